import { isIP } from 'node:net'
import type { z } from 'zod'
import { parseListenAddress } from '../util/address.js'

/**
 * Checks that span several keys, run by `check`, `run` and every reload alike (from the schema's
 * superRefine, so each problem is located at its key): unique route names, template variables
 * that the host pattern captures, a token for an admin listener beyond loopback, and bind
 * addresses that can work.
 */
type Ctx = z.RefinementCtx
type Path = Array<string | number>

interface RouteLike {
  name?: string | undefined
  host?: string | string[] | undefined
  uap?: unknown
  proxy?: { upstreams: string[] } | undefined
  docker?: { name: string } | undefined
  redirect?: { to: string } | undefined
}

interface ConfigLike {
  routes: RouteLike[]
  listeners: Array<{ name: string, address: string }>
  admin: { address: string, token_file?: string | undefined } | null
  dns?: { address: string } | undefined
}

const LOOPBACK = /^(127\.|::1$|localhost$)/
const VARIABLE = /\{([a-zA-Z_][a-zA-Z0-9_]*)\}/g

export function crossChecks (c: ConfigLike, ctx: Ctx): void {
  uniqueRouteNames(c.routes, ctx)
  c.routes.forEach((r, i) => templateVariables(r, ['routes', i], ctx))
  if (c.admin !== null && c.admin.token_file === undefined && !LOOPBACK.test(parseListenAddress(c.admin.address)?.host ?? '')) {
    ctx.addIssue({ code: 'custom', path: ['admin', 'address'], message: 'an admin listener beyond loopback needs admin.token_file' })
  }
  bindAddresses(c, ctx)
}

function uniqueRouteNames (routes: RouteLike[], ctx: Ctx): void {
  const seen = new Map<string, number>()
  routes.forEach((r, i) => {
    // Unnamed routes are called route-N (metrics, logs): an explicit name may not take one of those.
    const name = r.name ?? `route-${i}`
    const first = seen.get(name)
    if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['routes', i, ...(r.name === undefined ? [] : ['name'])], message: `duplicate route name ${JSON.stringify(name)} (also routes[${first}]); names label metrics and logs` })
    else seen.set(name, i)
  })
}

/** `{x}` in an upstream, docker name or redirect must be something the request provides. */
function templateVariables (r: RouteLike, at: Path, ctx: Ctx): void {
  if (r.uap !== undefined) return
  const groups = capturedGroups(r.host)
  const check = (template: string, path: Path, extra: readonly string[]): void => {
    for (const m of template.matchAll(VARIABLE)) {
      const v = m[1]!
      if (v === 'host' || extra.includes(v) || groups.includes(v)) continue
      const known = ['host', ...extra, ...groups].map(n => `{${n}}`).join(', ')
      ctx.addIssue({ code: 'custom', path: [...at, ...path], message: `unknown placeholder {${v}}: the host pattern captures no ${JSON.stringify(v)} (available: ${known})` })
    }
  }
  r.proxy?.upstreams.forEach((u, j) => check(u, ['proxy', 'upstreams', j], []))
  if (r.docker !== undefined) check(r.docker.name, ['docker', 'name'], [])
  if (r.redirect !== undefined) check(r.redirect.to, ['redirect', 'to'], ['uri', 'path'])
}

/** Named groups every host pattern of the route captures (a variable must exist whichever one matched). */
function capturedGroups (host: string | string[] | undefined): string[] {
  const patterns = host === undefined ? [] : typeof host === 'string' ? [host] : host
  if (patterns.length === 0) return []
  const sets = patterns.map(p => {
    if (!p.startsWith('~')) return []
    try {
      // Adding an empty alternative makes any regex match '', which lists every named group.
      return Object.keys(new RegExp(`${p.slice(1)}|`).exec('')?.groups ?? {})
    } catch {
      return []
    }
  })
  return sets.reduce((a, b) => a.filter(x => b.includes(x)))
}

function bindAddresses (c: ConfigLike, ctx: Ctx): void {
  const taken = new Map<string, string>()
  const claim = (address: string, path: Path, what: string): void => {
    const hp = parseListenAddress(address)
    if (hp === undefined) return
    if (isIP(hp.host) === 0 && hp.host !== 'localhost') {
      ctx.addIssue({ code: 'custom', path, message: `bind to an IP address (or localhost), not the name ${JSON.stringify(hp.host)}` })
      return
    }
    if (hp.port === 0) return
    const key = `${hp.host}:${hp.port}`
    const other = taken.get(key)
    if (other !== undefined) ctx.addIssue({ code: 'custom', path, message: `${address} is already used by ${other}` })
    else taken.set(key, what)
  }
  c.listeners.forEach((l, i) => claim(l.address, ['listeners', i, 'address'], `listener ${JSON.stringify(l.name)}`))
  if (c.admin !== null) claim(c.admin.address, ['admin', 'address'], 'the admin listener')
  // The DNS server's TCP side shares the port space with HTTP listeners.
  if (c.dns !== undefined) claim(c.dns.address, ['dns', 'address'], 'the DNS server')
}
