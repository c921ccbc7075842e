const hosts = new Map<string, string>()

/**
 * The Host an origin is addressed by (`new URL(origin).host`: default port dropped), cached:
 * parsing a URL per request was a visible cost. UAP origins are open-ended, so the cache is
 * emptied when it grows past a bound.
 */
export function originHost (origin: string): string {
  let host = hosts.get(origin)
  if (host === undefined) {
    if (hosts.size >= 4096) hosts.clear()
    hosts.set(origin, host = new URL(origin).host)
  }
  return host
}
