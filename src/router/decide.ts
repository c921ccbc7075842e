import { isIP } from 'node:net'
import type { CompiledRoute, RouteAction, RouteTable, UpstreamSettings } from './route-table.js'
import type { RouteGates } from './gates/index.js'
import type { UpstreamPool } from './upstream-pool.js'
import { normalizeHost } from './host.js'
import { parseUapLabel } from './uap.js'
import type { Vars } from './template.js'

/**
 * The routing decision, pure and synchronous: the same function serves requests and
 * `portico explain`, so what explain prints is what the proxy does.
 */
export type Decision =
  | { action: 'proxy', route: CompiledRoute, target: string, pool: UpstreamPool | undefined, upstream: UpstreamSettings, reason: string, alternatives?: string[] }
  | { action: 'deny', route: CompiledRoute | undefined, status: 400 | 403 | 421 | 503, reason: string, held?: true }
  | { action: 'cors-proxy', route: CompiledRoute, ccp: Extract<RouteAction, { kind: 'cors-proxy' }>, reason: string }
  | { action: 'redirect', route: CompiledRoute, status: number, location: string, reason: string }
  | { action: 'respond', route: CompiledRoute, respond: Extract<RouteAction, { kind: 'respond' }>, reason: string }
  | { action: 'static', route: CompiledRoute, site: Extract<RouteAction, { kind: 'static' }>['site'], reason: string }
  | { action: 'none', route: undefined, reason: string }

export interface RequestFacts {
  /** Raw Host header or :authority (normalised here). */
  host: string | undefined
  /** Path and query as received. */
  url: string
  listener: string | undefined
  tls: boolean
  /** The TLS listener's bound port, when it differs from the configured one (port 0). */
  httpsPort?: number | undefined
}

const ACME_CHALLENGE = '/.well-known/acme-challenge/'

/** What `docker` routes resolve names against: the registry's table (absent in `explain`). */
export interface NameLookup {
  /** dockerd is back but not resynced: wait for the next table (see NameTable.held). */
  readonly held?: boolean
  lookup (name: string): ReadonlyArray<{ ipv4: string | undefined, ipv6: string | undefined, port: number | undefined }> | undefined
}

export function decide (table: RouteTable, facts: RequestFacts, names?: NameLookup): Decision {
  if (facts.url.charCodeAt(0) !== 47 /* / */) return { action: 'deny', route: undefined, status: 400, reason: 'request target must be a path or an absolute http(s) URL' }
  const host = normalizeHost(facts.host)
  if (host === undefined) return { action: 'deny', route: undefined, status: 400, reason: 'missing or invalid Host header' }
  const path = pathOf(facts.url)
  for (const route of table.routes) {
    if (route.listeners !== undefined && (facts.listener === undefined || !route.listeners.has(facts.listener))) continue
    if (route.pathPrefix !== undefined && !pathHasPrefix(path, route.pathPrefix)) continue
    const vars = route.matchHost(host)
    if (vars === undefined) continue
    if (route.httpsRedirect && !facts.tls && !path.startsWith(ACME_CHALLENGE)) {
      const httpsPort = facts.httpsPort ?? table.httpsPort
      const port = httpsPort === undefined || httpsPort === 443 ? '' : `:${httpsPort}`
      return { action: 'redirect', route, status: 301, location: `https://${host}${port}${facts.url}`, reason: 'https_redirect' }
    }
    return actionFor(route, host, vars, facts, names)
  }
  return { action: 'none', route: undefined, reason: `no route for host ${host}` }
}

function actionFor (route: CompiledRoute, host: string, vars: Vars, facts: RequestFacts, names: NameLookup | undefined): Decision {
  const a = route.action
  switch (a.kind) {
    case 'uap': {
      const t = parseUapLabel(vars.label ?? '', a.defaultScheme)
      if (t === undefined) return { action: 'deny', route, status: 403, reason: 'host is not a valid UAP name ([http-|https-]A-B-C-D-PORT)' }
      if (!a.policy.allowsIpv4(t.ipNumber)) return { action: 'deny', route, status: 403, reason: `target address ${t.ip} is outside the allowed networks` }
      if (!a.policy.allowsPort(t.port)) return { action: 'deny', route, status: 403, reason: `target port ${t.port} is not allowed` }
      return { action: 'proxy', route, target: `${t.scheme}://${t.ip}:${t.port}`, pool: undefined, upstream: a.upstream, reason: 'uap' }
    }
    case 'proxy': {
      if (a.pool !== undefined) return { action: 'proxy', route, target: a.pool.peek(), pool: a.pool, upstream: a.upstream, reason: 'upstream pool' }
      const target = a.template!.render({ ...vars, host })
      if (a.policy !== undefined) {
        const denied = checkTemplatedTarget(target, a.policy)
        if (denied !== undefined) return { action: 'deny', route, status: 403, reason: denied }
      }
      return { action: 'proxy', route, target, pool: undefined, upstream: a.upstream, reason: 'templated upstream' }
    }
    case 'docker': {
      const rendered = a.name.render({ ...vars, host })
      const name = rendered === a.zone || rendered.endsWith(`.${a.zone}`) ? rendered : `${rendered}.${a.zone}`
      if (names === undefined) return { action: 'proxy', route, target: `${a.scheme}://${name}`, pool: undefined, upstream: a.upstream, reason: 'resolved from the Docker registry per request' }
      if (names.held === true) return { action: 'deny', route, status: 503, reason: 'the Docker registry is resyncing after dockerd came back', held: true }
      const origins = (names.lookup(name) ?? []).flatMap(c => {
        const ip = c.ipv4 ?? (c.ipv6 === undefined ? undefined : `[${c.ipv6}]`)
        return ip === undefined ? [] : [`${a.scheme}://${ip}:${a.port ?? c.port ?? (a.scheme === 'https' ? 443 : 80)}`]
      })
      if (origins.length === 0) return { action: 'deny', route, status: 503, reason: `no running container answers for ${name}` }
      return { action: 'proxy', route, target: origins[0] as string, pool: undefined, upstream: a.upstream, reason: `docker ${name}`, alternatives: origins }
    }
    case 'cors-proxy':
      return { action: 'cors-proxy', route, ccp: a, reason: 'target from exo-proxy-orig-host/port, checked per request' }
    case 'redirect':
      return { action: 'redirect', route, status: a.status, location: a.to.render({ ...vars, host, uri: facts.url, path: pathOf(facts.url) }), reason: 'redirect' }
    case 'respond':
      return { action: 'respond', route, respond: a, reason: 'respond' }
    case 'static':
      return { action: 'static', route, site: a.site, reason: `files below ${a.site.root}` }
  }
}

function checkTemplatedTarget (target: string, policy: NonNullable<Extract<CompiledRoute['action'], { kind: 'proxy' }>['policy']>): string | undefined {
  let url: URL
  try { url = new URL(target) } catch { return 'target is not a valid URL' }
  const ip = url.hostname.replace(/^\[|\]$/g, '')
  if (isIP(ip) === 0) return 'target host is not an IP address (required when allow is set)'
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port)
  return policy.check(ip, port)
}

/**
 * The route's gates when they run for this decision (shared by the policy and `explain`): after
 * the decision, never for refusals, unrouted requests or the redirect to HTTPS (credentials must
 * not travel in clear text).
 */
export function gatesOf (d: Decision): RouteGates | undefined {
  return d.action === 'deny' || d.action === 'none' || d.reason === 'https_redirect' ? undefined : d.route.gates
}

export function pathOf (url: string): string {
  const q = url.indexOf('?')
  return q < 0 ? url : url.slice(0, q)
}

function pathHasPrefix (path: string, prefix: string): boolean {
  return path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47 /* / */)
}
