import { upstreamBasePath, type Config, type RouteConfig, type UapConfig, type ProxyConfig, type CcpConfig, type DockerRouteConfig } from '../config/index.js'
import { compileCcpPolicy, compileCorsPolicy, type CcpPolicy, type CorsPolicy, type Lookup } from '../cors/index.js'
import { compileHostPatterns, type HostMatcher } from '../util/host-pattern.js'
import { compileIpPolicy, type IpPolicy } from './ip-policy.js'
import { compileTemplate, type Template } from './template.js'
import { createUpstreamPool, type UpstreamPool } from './upstream-pool.js'
import { compileStaticSite, type StaticSite } from '../static/index.js'
import { compileCompress, type CompressSettings } from '../compress/index.js'
import { compileErrorPages, type ErrorPageFiles, type ErrorPages } from './error-pages.js'
import { compileGates, type RouteGates } from './gates/index.js'
import { compileStickyCookie } from './sticky-cookie.js'

/** Connection settings for one route's upstreams; shared by requests of that route. */
export interface UpstreamSettings {
  readonly preserveHost: boolean
  readonly connectTimeoutMs: number
  readonly headersTimeoutMs: number
  readonly idleTimeoutMs: number
  readonly maxBodySize: number | null
  readonly retries: number
  readonly tlsVerify: boolean
  readonly caFile: string | undefined
  readonly serverName: string | undefined
  readonly websocketIdleTimeoutMs: number
}

export type RouteAction =
  | { kind: 'uap', defaultScheme: 'http' | 'https', policy: IpPolicy, upstream: UpstreamSettings, cookieScoping: boolean }
  | { kind: 'proxy', pool: UpstreamPool | undefined, template: Template | undefined, policy: IpPolicy | undefined, upstream: UpstreamSettings, health: HealthSettings | undefined }
  | { kind: 'cors-proxy', policy: CcpPolicy, prefix: string, upstream: UpstreamSettings }
  | { kind: 'docker', name: Template, zone: string, port: number | undefined, scheme: 'http' | 'https', upstream: UpstreamSettings }
  | { kind: 'redirect', to: Template, status: number }
  | { kind: 'respond', status: number, body: Buffer, headers: ReadonlyArray<[string, string]> }
  | { kind: 'static', site: StaticSite }

/** A pool's active health check (`health_check`), compiled; run by src/health. */
export interface HealthSettings {
  readonly path: string
  readonly intervalMs: number
  readonly timeoutMs: number
  /** Accepted statuses, as inclusive ranges. */
  readonly expect: ReadonlyArray<{ readonly from: number, readonly to: number }>
  readonly unhealthyAfter: number
  readonly healthyAfter: number
  readonly host: string | undefined
}

export interface CompiledRoute {
  readonly index: number
  readonly name: string
  readonly listeners: ReadonlySet<string> | undefined
  readonly matchHost: HostMatcher
  readonly pathPrefix: string | undefined
  readonly httpsRedirect: boolean
  readonly hsts: string | undefined
  readonly cors: CorsPolicy | undefined
  /** Edits applied to proxied responses (lower-case names). */
  readonly responseHeaders: { set: ReadonlyArray<readonly [string, string]>, remove: readonly string[] } | undefined
  /** `compress`: gzip/brotli of this route's responses (proxied, static, respond). */
  readonly compress: CompressSettings | undefined
  /** `error_pages`: replacement bodies for portico's own errors (and, per page, the upstream's). */
  readonly errorPages: ErrorPages | undefined
  /** Access control, auth, request header edits and path rewriting before forwarding (none: undefined). */
  readonly gates: RouteGates | undefined
  readonly action: RouteAction
}

export interface RouteTable {
  readonly routes: readonly CompiledRoute[]
  /** Port of the first TLS listener, for http→https redirects (omitted from URLs when 443). */
  readonly httpsPort: number | undefined
}

export interface CompileOptions {
  /** DNS lookup for CCP targets (injected in tests; the system resolver otherwise). */
  lookup?: Lookup
  /** The Docker zone, so route names like `nginx.{tenant}` are completed to FQDNs. */
  zone?: string
  /** Bodies of the error pages' files, read by the snapshot builder. */
  errorPageFiles?: ErrorPageFiles
}

export function compileRouteTable (config: Config, options: CompileOptions = {}): RouteTable {
  const opts = { ...options, zone: options.zone ?? config.docker?.zone }
  const tlsListener = config.listeners.find(l => l.tls && l.protocol !== 'tcp')
  const httpsPort = tlsListener === undefined ? undefined : Number(tlsListener.address.slice(tlsListener.address.lastIndexOf(':') + 1))
  return { routes: config.routes.map((r, i) => compileRoute(r, i, opts)), httpsPort }
}

/** CCP routes live under /proxy unless a path is given (Exosphere's convention). */
const CCP_DEFAULT_PATH = '/proxy'

function compileRoute (r: RouteConfig, index: number, opts: CompileOptions): CompiledRoute {
  const name = r.name ?? `route-${index}`
  const path = r.path ?? (r.cors_proxy !== undefined ? CCP_DEFAULT_PATH : undefined)
  const pathPrefix = path === undefined || path === '/' ? undefined : path.replace(/\/$/, '')
  const common = {
    index,
    name,
    listeners: r.listeners === undefined ? undefined : new Set(r.listeners),
    pathPrefix,
    cors: r.cors === undefined ? undefined : compileCorsPolicy(r.cors),
    responseHeaders: r.response_headers === undefined
      ? undefined
      : { set: Object.entries(r.response_headers.set).map(([k, v]) => [k.toLowerCase(), v] as const), remove: r.response_headers.remove.map(k => k.toLowerCase()) },
    httpsRedirect: r.https_redirect,
    hsts: r.hsts === false ? undefined : r.hsts,
    compress: r.compress === undefined ? undefined : compileCompress(r.compress),
    errorPages: r.error_pages === undefined ? undefined : compileErrorPages(r.error_pages, opts.errorPageFiles),
    gates: compileGates(r, r.proxy === undefined ? '' : upstreamBasePath(r.proxy.upstreams[0] as string))
  }
  if (r.uap !== undefined) {
    return { ...common, matchHost: uapHostMatcher(r.uap.domain), action: uapAction(r.uap) }
  }
  const matchHost = compileHostPatterns(r.host)
  if (r.proxy !== undefined) return { ...common, matchHost, action: proxyAction(r.proxy, name, r) }
  if (r.docker !== undefined) return { ...common, matchHost, action: dockerAction(r.docker, opts.zone ?? '') }
  if (r.cors_proxy !== undefined) return { ...common, matchHost, action: ccpAction(r.cors_proxy, pathPrefix ?? '', opts.lookup) }
  if (r.redirect !== undefined) return { ...common, matchHost, action: { kind: 'redirect', to: compileTemplate(r.redirect.to), status: r.redirect.status } }
  if (r.static !== undefined) return { ...common, matchHost, action: { kind: 'static', site: compileStaticSite(r.static, pathPrefix) } }
  const respond = r.respond!
  return {
    ...common,
    matchHost,
    action: {
      kind: 'respond',
      status: respond.status,
      body: Buffer.from(respond.body),
      headers: [['content-type', respond.content_type], ...Object.entries(respond.headers).map(([k, v]) => [k.toLowerCase(), v] as [string, string])]
    }
  }
}

/** A UAP route claims every host below its domain; malformed labels are denied, not passed on. */
function uapHostMatcher (domain: string): HostMatcher {
  const suffix = `.${domain.toLowerCase().replace(/\.$/, '')}`
  return host => host.length > suffix.length && host.endsWith(suffix) ? { label: host.slice(0, -suffix.length) } : undefined
}

function uapAction (u: UapConfig): RouteAction {
  return {
    kind: 'uap',
    defaultScheme: u.default_scheme,
    policy: compileIpPolicy(u.allow, u.ports),
    upstream: upstreamSettings({ ...u, preserve_host: true, retries: 0 }, false),
    cookieScoping: u.cookie_scoping
  }
}

function proxyAction (p: ProxyConfig, name: string, routeConfig: RouteConfig): RouteAction {
  const templated = p.upstreams.some(u => u.includes('{'))
  return {
    kind: 'proxy',
    pool: templated ? undefined : upstreamPool(p, name, routeConfig),
    template: templated ? compileTemplate(p.upstreams[0] as string) : undefined,
    policy: p.allow === undefined ? undefined : compileIpPolicy(p.allow, p.ports),
    upstream: upstreamSettings(p, true),
    health: p.health_check === undefined || templated ? undefined : healthSettings(p.health_check)
  }
}

/** The pool's key covers what its state and checks depend on: the same key after a reload keeps both. */
function upstreamPool (p: ProxyConfig, name: string, routeConfig: RouteConfig): UpstreamPool {
  const origins = p.upstreams.map(u => new URL(u).origin)
  const key = JSON.stringify([name, origins, p.load_balancing, p.health_check ?? null, p.cookie ?? null, p.tls])
  const sticky = p.cookie === undefined ? undefined : compileStickyCookie(p.cookie, origins, routeConfig)
  return createUpstreamPool(origins, { key, policy: p.load_balancing, sticky })
}

function healthSettings (h: NonNullable<ProxyConfig['health_check']>): HealthSettings {
  return {
    path: h.path,
    intervalMs: h.interval,
    timeoutMs: h.timeout,
    expect: h.expect_status,
    unhealthyAfter: h.unhealthy_after,
    healthyAfter: h.healthy_after,
    host: h.host
  }
}

function dockerAction (d: DockerRouteConfig, zone: string): RouteAction {
  return {
    kind: 'docker',
    name: compileTemplate(d.name.toLowerCase()),
    zone: zone.toLowerCase(),
    port: d.port,
    scheme: d.scheme,
    upstream: upstreamSettings({ ...d, retries: 1 }, true)
  }
}

function ccpAction (c: CcpConfig, prefix: string, lookup: Lookup | undefined): RouteAction {
  return {
    kind: 'cors-proxy',
    policy: compileCcpPolicy(c, lookup),
    prefix,
    upstream: upstreamSettings({ ...c, preserve_host: false, retries: 0, websocket_idle_timeout: 0 }, true)
  }
}

type UpstreamInput = Pick<ProxyConfig, 'preserve_host' | 'timeouts' | 'max_body_size' | 'retries' | 'tls' | 'websocket_idle_timeout'>

function upstreamSettings (p: UpstreamInput, verifyByDefault: boolean): UpstreamSettings {
  return {
    preserveHost: p.preserve_host,
    connectTimeoutMs: p.timeouts.connect,
    headersTimeoutMs: p.timeouts.headers,
    idleTimeoutMs: p.timeouts.idle,
    maxBodySize: p.max_body_size,
    retries: p.retries,
    tlsVerify: p.tls.verify ?? verifyByDefault,
    caFile: p.tls.ca_file,
    serverName: p.tls.server_name,
    websocketIdleTimeoutMs: p.websocket_idle_timeout
  }
}
