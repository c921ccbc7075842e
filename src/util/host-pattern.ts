/** Template variables captured from a host (regex named groups). */
export type Vars = Readonly<Record<string, string | undefined>>

/**
 * Host patterns: exact (`api.example.org`), wildcard (`*.example.org`, one or more labels, like
 * nginx's server_name), or a regex when prefixed with `~` (named groups become template
 * variables). Hosts reach matchers already normalised (lower case, no port, no trailing dot).
 */
export type HostMatcher = (host: string) => Vars | undefined

export const NO_VARS: Vars = Object.freeze({})

export function compileHostPattern (pattern: string): HostMatcher {
  if (pattern.startsWith('~')) {
    const re = new RegExp(pattern.slice(1), 'i')
    return host => {
      const m = re.exec(host)
      if (m === null) return undefined
      return m.groups ?? NO_VARS
    }
  }
  const p = pattern.toLowerCase().replace(/\.$/, '')
  if (p === '*') return () => NO_VARS
  if (p.startsWith('*.')) {
    const suffix = p.slice(1)
    return host => host.length > suffix.length && host.endsWith(suffix) ? NO_VARS : undefined
  }
  return host => host === p ? NO_VARS : undefined
}

export function compileHostPatterns (patterns: string | readonly string[] | undefined): HostMatcher {
  if (patterns === undefined) return () => NO_VARS
  const list = typeof patterns === 'string' ? [patterns] : patterns
  const matchers = list.map(compileHostPattern)
  if (matchers.length === 1) return matchers[0] as HostMatcher
  return host => {
    for (const m of matchers) {
      const v = m(host)
      if (v !== undefined) return v
    }
    return undefined
  }
}
