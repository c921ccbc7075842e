import { z } from 'zod'
import { crossChecks } from './cross-checks.js'
import { DEFAULT_COMPRESS_TYPES, DEFAULT_IMMUTABLE } from './edge-defaults.js'
import { basicAuth, clientCidrs, forwardAuth, gateChecks, requestHeaders, stripPrefix, upstreamBasePath } from './gate-schema.js'
import { checkBalancing, healthCheck, loadBalancing, stickyCookie } from './balance-schema.js'
import { dns } from './dns-schema.js'
import { route53 } from './route53-schema.js'
import { cluster, clusterCrossChecks } from './cluster-schema.js'
import { cidr, duration, filePath, hostName, httpStatus, listenAddress, portRange, size } from './fields.js'
import { checkTcpListener, clientAuthHeaders, tcpCrossChecks, tcpListenerKeys, tcpRoute } from './tcp-schema.js'

/**
 * The whole configuration file. Every object is strict: an unknown key is an error
 * (with a "did you mean" hint), because a silently ignored typo at the edge is an outage.
 * Defaults live here and are documented in docs/CONFIG.md.
 */

const upstreamTls = z.strictObject({
  verify: z.boolean().optional(),
  ca_file: filePath.optional(),
  server_name: z.string().optional()
})

const timeouts = z.strictObject({
  connect: duration.default(5000),
  headers: duration.default(60_000),
  idle: duration.default(60_000)
})

/** Apps behind the UAP hold long polls and quiet SSE streams open: nginx's 60 s cut them. */
const uapTimeouts = z.strictObject({
  connect: duration.default(5000),
  headers: duration.default(600_000),
  idle: duration.default(3_600_000)
})

/** `~regex` (compiled here so a bad pattern is a config error, not a runtime one), exact or *.wildcard. */
const hostPattern = z.string().min(1).superRefine((v, ctx) => {
  if (v.startsWith('~')) {
    try { new RegExp(v.slice(1)) } catch (err) { ctx.addIssue({ code: 'custom', message: `invalid regex: ${(err as Error).message}` }) }
  } else if (!/^(\*\.)?[A-Za-z0-9.-]+\.?$|^\*$/.test(v)) {
    ctx.addIssue({ code: 'custom', message: 'expected a host name, *.wildcard, * or ~regex' })
  }
})

/** An http(s) origin with an optional base path, or a template with {variables} from the host regex's named groups. */
const upstreamUrl = z.string().min(1).superRefine((v, ctx) => {
  if (v.includes('{')) return
  let url: URL | undefined
  try { url = new URL(v) } catch {}
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) ctx.addIssue({ code: 'custom', message: 'expected an http:// or https:// URL' })
  else if (url.search !== '' || url.hash !== '' || v.includes('?') || v.includes('#')) {
    ctx.addIssue({ code: 'custom', message: 'an upstream is an origin with an optional base path (scheme://host:port[/base]), without query or fragment' })
  }
})

const proxyAction = z.strictObject({
  upstreams: z.array(upstreamUrl).min(1),
  allow: z.array(cidr).min(1).optional(),
  ports: z.array(portRange).default([{ from: 1, to: 65535 }]),
  preserve_host: z.boolean().default(true),
  timeouts: timeouts.prefault({}),
  max_body_size: size.nullable().default(null),
  retries: z.number().int().min(0).max(5).default(1),
  tls: upstreamTls.prefault({}),
  websocket_idle_timeout: duration.default(3_600_000),
  health_check: healthCheck.optional(),
  load_balancing: loadBalancing,
  cookie: stickyCookie.optional()
}).superRefine((p, ctx) => {
  // One base path per route: the pool balances origins, and the request path must not depend on the pick.
  if (new Set(p.upstreams.map(upstreamBasePath)).size > 1) {
    ctx.addIssue({ code: 'custom', path: ['upstreams'], message: 'all upstreams of a route must share one base path' })
  }
  checkBalancing(p, ctx)
})

const uapAction = z.strictObject({
  domain: hostName,
  allow: z.array(cidr).min(1),
  ports: z.array(portRange).default([{ from: 1, to: 65535 }]),
  default_scheme: z.enum(['http', 'https']).default('https'),
  tls: upstreamTls.prefault({}),
  timeouts: uapTimeouts.prefault({}),
  max_body_size: size.nullable().default(null),
  websocket_idle_timeout: duration.default(3_600_000),
  cookie_scoping: z.boolean().default(true)
})

/** `https://exact.origin` or `~^anchored regex$`; `*` (any origin) only without credentials. */
const originPattern = z.string().min(1).superRefine((v, ctx) => {
  if (v.startsWith('~')) {
    try { new RegExp(v.slice(1)) } catch (err) { ctx.addIssue({ code: 'custom', message: `invalid regex: ${(err as Error).message}` }) }
  } else if (v !== '*' && !/^https?:\/\/[^/\s]+$/.test(v)) {
    ctx.addIssue({ code: 'custom', message: 'expected an origin such as https://app.example.org (no path), * or ~regex' })
  }
})

const corsPolicy = z.strictObject({
  preset: z.enum(['openstack', 'exosphere-uap']).optional(),
  origins: z.array(originPattern).min(1),
  methods: z.array(z.string().regex(/^[A-Z]+$/, 'methods are upper-case tokens')).optional(),
  allow_headers: z.array(z.string().min(1)).optional(),
  expose_headers: z.array(z.string().min(1)).optional(),
  credentials: z.boolean().default(false),
  max_age: duration.optional(),
  deny_disallowed: z.boolean().default(false)
}).superRefine((c, ctx) => {
  if (c.credentials && c.origins.includes('*')) ctx.addIssue({ code: 'custom', path: ['origins'], message: 'origin * cannot be combined with credentials: true (browsers refuse it, and echoing any origin with credentials is unsafe)' })
})

const ccpAction = z.strictObject({
  hosts: z.array(hostPattern).default([]),
  networks: z.array(cidr).default([]),
  ports: z.array(portRange).min(1),
  default_port: z.number().int().min(1).max(65535).default(443),
  tls: upstreamTls.prefault({}),
  timeouts: timeouts.prefault({}),
  resolve_timeout: duration.default(5000),
  max_body_size: size.nullable().default(null)
}).superRefine((c, ctx) => {
  if (c.hosts.length === 0 && c.networks.length === 0) ctx.addIssue({ code: 'custom', message: 'a cors_proxy needs at least one of hosts or networks: it must never be an open proxy' })
})

const dockerAction = z.strictObject({
  name: z.string().min(1),
  port: z.number().int().min(1).max(65535).optional(),
  scheme: z.enum(['http', 'https']).default('http'),
  preserve_host: z.boolean().default(true),
  tls: upstreamTls.prefault({}),
  timeouts: timeouts.prefault({}),
  max_body_size: size.nullable().default(null),
  websocket_idle_timeout: duration.default(3_600_000)
})

const REDIRECT_STATUSES = [301, 302, 303, 307, 308]

const redirectAction = z.strictObject({
  to: z.string().min(1),
  status: z.number().superRefine((s, ctx) => {
    if (!REDIRECT_STATUSES.includes(s)) ctx.addIssue({ code: 'custom', message: `redirect status ${s} is not one of ${REDIRECT_STATUSES.join(', ')}` })
  }).default(301)
})

const respondAction = z.strictObject({
  status: httpStatus.default(200),
  body: z.string().default(''),
  content_type: z.string().default('text/plain; charset=utf-8'),
  headers: z.record(z.string(), z.string()).default({})
})

/** `static`: files under `root` (see src/static); the asset pattern is compiled here so a bad one is a config error. */
const staticAction = z.strictObject({
  root: filePath,
  index: z.string().min(1).regex(/^[^/\\]+$/, 'a file name inside each directory, such as index.html').default('index.html'),
  spa_fallback: z.boolean().default(false),
  browse: z.boolean().default(false),
  immutable: z.string().min(1).superRefine((v, ctx) => {
    try { new RegExp(v) } catch (err) { ctx.addIssue({ code: 'custom', message: `invalid regex: ${(err as Error).message}` }) }
  }).default(DEFAULT_IMMUTABLE),
  cache_control: z.string().min(1).optional()
})

/** `compress` on any route: what is compressed, and how hard (levels chosen for on-the-fly use). */
const compressOptions = z.strictObject({
  encodings: z.array(z.enum(['br', 'gzip'])).min(1).default(['br', 'gzip']),
  types: z.array(z.string().min(1).transform(t => t.toLowerCase())).min(1).default([...DEFAULT_COMPRESS_TYPES]),
  min_size: size.default(1024),
  gzip_level: z.number().int().min(1).max(9).default(6),
  brotli_quality: z.number().int().min(0).max(11).default(4)
})

/** `error_pages`: a status (502), a class ("5xx") or a list of them, with an inline or file body. */
const errorStatus = z.union([httpStatus, z.string().regex(/^[1-5](xx|\d\d)$/, 'expected a status such as 502 or a class such as "5xx"')])
const errorPage = z.strictObject({
  status: z.union([errorStatus, z.array(errorStatus).min(1)]),
  body: z.string().optional(),
  file: filePath.optional(),
  content_type: z.string().min(1).default('text/html; charset=utf-8'),
  upstream: z.boolean().default(false)
}).superRefine((e, ctx) => {
  if ((e.body === undefined) === (e.file === undefined)) {
    ctx.addIssue({ code: 'custom', message: 'an error page needs exactly one of body or file' })
  }
})

const route = z.strictObject({
  name: z.string().min(1).optional(),
  host: z.union([hostPattern, z.array(hostPattern).min(1)]).optional(),
  path: z.string().startsWith('/').optional(),
  listeners: z.array(z.string()).optional(),
  https_redirect: z.boolean().default(false),
  hsts: z.union([z.literal(false), z.string()]).default(false),
  response_headers: z.strictObject({
    set: z.record(z.string(), z.string()).default({}),
    remove: z.array(z.string()).default([])
  }).optional(),
  cors: corsPolicy.optional(),
  uap: uapAction.optional(),
  proxy: proxyAction.optional(),
  cors_proxy: ccpAction.optional(),
  docker: dockerAction.optional(),
  redirect: redirectAction.optional(),
  respond: respondAction.optional(),
  static: staticAction.optional(),
  compress: compressOptions.optional(),
  error_pages: z.array(errorPage).optional(),
  // Gates (src/router/gates), in the order they run:
  client_allow: clientCidrs.optional(),
  client_deny: clientCidrs.optional(),
  basic_auth: basicAuth.optional(),
  forward_auth: forwardAuth.optional(),
  request_headers: requestHeaders.optional(),
  strip_prefix: stripPrefix.optional()
}).superRefine((r, ctx) => {
  gateChecks(r, ctx)
  const actions = (['uap', 'proxy', 'cors_proxy', 'docker', 'redirect', 'respond', 'static'] as const).filter(k => r[k] !== undefined)
  if (actions.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      message: actions.length === 0
        ? 'a route needs exactly one action: uap, proxy, cors_proxy, docker, redirect, respond or static'
        : `a route has exactly one action, found ${actions.join(' and ')}`
    })
  }
  if (r.uap !== undefined && r.host !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['host'], message: 'a uap route derives its host pattern from uap.domain; remove host' })
  }
})

const certificate = z.strictObject({
  cert_file: filePath,
  key_file: filePath
})

const tls = z.strictObject({
  certificates: z.array(certificate).default([]),
  self_signed: z.strictObject({
    names: z.array(hostName).min(1)
  }).optional(),
  min_version: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
  strict_sni_host: z.boolean().default(false),
  client_auth_headers: clientAuthHeaders.prefault({})
})

const docker = z.strictObject({
  endpoint: z.string().min(1).optional(),
  zone: hostName,
  name_pattern: z.string().default('^(?<tenant>[a-z0-9]+)-(?<service>[a-z0-9][a-z0-9-]*)$').superRefine((v, ctx) => {
    try { new RegExp(v) } catch (err) { ctx.addIssue({ code: 'custom', message: `invalid regex: ${(err as Error).message}` }) }
  }),
  network: z.string().optional(),
  require_healthy: z.boolean().default(true),
  reconcile_interval: duration.default(30_000),
  // false: no dockerd on this host; with `cluster` the names other hosts publish are served.
  watch: z.boolean().default(true)
})

const acmeCertificate = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/, 'a directory name such as uap.example.org'),
  domains: z.array(hostName).min(1),
  challenge: z.enum(['dns-01', 'http-01']).default('dns-01'),
  provider: z.enum(['builtin', 'cloudflare', 'rfc2136', 'exec', 'route53']).default('builtin'),
  // acme-dns style CNAME delegation: domain (apex of a wildcard) -> where its TXT record is published.
  dns_aliases: z.record(hostName, hostName).default({})
}).superRefine((c, ctx) => {
  if (c.challenge === 'http-01' && c.domains.some(d => d.startsWith('*.'))) ctx.addIssue({ code: 'custom', path: ['domains'], message: 'wildcard names need dns-01' })
  for (const from of Object.keys(c.dns_aliases)) {
    if (!c.domains.some(d => d.replace(/^\*\./, '') === from)) ctx.addIssue({ code: 'custom', path: ['dns_aliases', from], message: `${from} is not one of this certificate's domains` })
  }
})

const acme = z.strictObject({
  directory: z.string().default('letsencrypt'),
  staging_directory: z.string().optional(),
  request_timeout: duration.default(30_000),
  order_timeout: duration.default(600_000),
  email: z.string().min(3),
  store_dir: filePath.optional(),
  ca_file: filePath.optional(),
  key_type: z.enum(['ecdsa-p256', 'rsa-2048', 'rsa-4096']).default('ecdsa-p256'),
  eab: z.strictObject({ kid: z.string().min(1), hmac_key_file: filePath }).optional(),
  certificates: z.array(acmeCertificate).min(1),
  propagation: z.strictObject({
    nameservers: z.array(listenAddress).default([]),
    delay: duration.default(0),
    interval: duration.default(2000),
    timeout: duration.default(120_000)
  }).prefault({}),
  cloudflare: z.strictObject({ token_file: filePath, api_url: z.string().default('https://api.cloudflare.com/client/v4') }).optional(),
  rfc2136: z.strictObject({
    server: listenAddress,
    zone: hostName,
    key_name: z.string().min(1),
    key_algorithm: z.enum(['hmac-sha256', 'hmac-sha512']).default('hmac-sha256'),
    key_secret_file: filePath
  }).optional(),
  exec: z.strictObject({ command: filePath }).optional(),
  route53: route53.optional(),
  retry: z.strictObject({ min: duration.default(60_000), max: duration.default(21_600_000) }).prefault({})
}).superRefine((a, ctx) => {
  a.certificates.forEach((c, i) => {
    if (c.challenge === 'dns-01' && c.provider !== 'builtin' && a[c.provider] === undefined) ctx.addIssue({ code: 'custom', path: ['certificates', i, 'provider'], message: `provider ${c.provider} needs the acme.${c.provider} section` })
  })
})

const listener = z.strictObject({
  name: z.string().min(1),
  address: listenAddress,
  tls: z.boolean().default(false),
  http2: z.boolean().default(true),
  engine: z.enum(['node', 'portico']).default('portico'),
  ...tcpListenerKeys
}).superRefine(checkTcpListener)

const admin = z.strictObject({
  address: listenAddress.default('127.0.0.1:9180'),
  token_file: filePath.optional(),
  allowed_origins: z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'expected an origin such as https://ops.example.org')).default([]),
  allowed_hosts: z.array(z.string().min(1).transform(h => h.toLowerCase())).default([])
})

const log = z.strictObject({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  access: z.boolean().default(true),
  access_format: z.enum(['json', 'combined', 'common']).default('json'),
  access_file: filePath.optional()
})

/** Client-side limits of every listener (slowloris, floods, oversized heads). */
const limits = z.strictObject({
  max_header_size: size.default(16 * 1024),
  max_headers: z.number().int().min(1).max(10_000).default(100),
  header_timeout: duration.default(30_000),
  request_timeout: duration.default(300_000),
  keepalive_timeout: duration.default(65_000),
  max_connections: z.number().int().min(1).nullable().default(10_000),
  max_connections_per_ip: z.number().int().min(1).nullable().default(null)
}).superRefine((l, ctx) => {
  if (l.request_timeout > 0 && l.header_timeout > l.request_timeout) ctx.addIssue({ code: 'custom', path: ['header_timeout'], message: 'must not be longer than request_timeout' })
})

export const configSchema = z.strictObject({
  state_dir: z.string().min(1).default('/var/lib/portico'),
  log: log.prefault({}),
  admin: admin.nullable().prefault({}),
  shutdown_timeout: duration.default(10_000),
  trusted_proxies: z.array(cidr).default([]),
  via: z.boolean().default(false),
  // `auto` = one worker per CPU; resolved at startup (see daemon/worker-count.ts).
  workers: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default(1),
  listeners: z.array(listener).min(1),
  limits: limits.prefault({}),
  tls: tls.prefault({}),
  docker: docker.optional(),
  dns: dns.optional(),
  acme: acme.optional(),
  routes: z.array(route).default([]),
  tcp_routes: z.array(tcpRoute).default([]),
  cluster: cluster.optional()
}).superRefine((c, ctx) => {
  if (c.acme?.certificates.some(x => x.challenge === 'dns-01' && x.provider === 'builtin') === true && c.dns === undefined) {
    ctx.addIssue({ code: 'custom', path: ['acme'], message: 'the builtin DNS-01 provider answers from portico\'s DNS server: configure dns' })
  }
  c.routes.forEach((r, i) => {
    if (r.docker !== undefined && c.docker === undefined) ctx.addIssue({ code: 'custom', path: ['routes', i, 'docker'], message: 'a docker route needs the top-level docker section' })
  })
  const seen = new Set<string>()
  c.listeners.forEach((l, i) => {
    if (seen.has(l.name)) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'name'], message: `duplicate listener name ${JSON.stringify(l.name)}` })
    seen.add(l.name)
  })
  c.routes.forEach((r, i) => {
    r.listeners?.forEach((name, j) => {
      if (!seen.has(name)) ctx.addIssue({ code: 'custom', path: ['routes', i, 'listeners', j], message: `no listener named ${JSON.stringify(name)}` })
    })
  })
  if (c.workers !== 1) {
    c.listeners.forEach((l, i) => {
      if (/:0$/.test(l.address)) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'address'], message: 'port 0 cannot be shared by several workers: give a fixed port or set workers: 1' })
    })
  }
  if (c.listeners.some(l => l.tls) && c.tls.certificates.length === 0 && c.tls.self_signed === undefined && c.acme === undefined) {
    ctx.addIssue({ code: 'custom', path: ['tls'], message: 'a listener has tls: true but tls has neither certificates nor self_signed' })
  }
  crossChecks(c, ctx)
  tcpCrossChecks(c, ctx)
  clusterCrossChecks(c, ctx)
})

export type Config = z.output<typeof configSchema>
export type RouteConfig = Config['routes'][number]
export type ListenerConfig = Config['listeners'][number]
export type UapConfig = NonNullable<RouteConfig['uap']>
export type ProxyConfig = NonNullable<RouteConfig['proxy']>
export type CorsConfig = NonNullable<RouteConfig['cors']>
export type CcpConfig = NonNullable<RouteConfig['cors_proxy']>
export type DockerRouteConfig = NonNullable<RouteConfig['docker']>
export type StaticConfig = NonNullable<RouteConfig['static']>
export type CompressConfig = NonNullable<RouteConfig['compress']>
export type ErrorPageConfig = NonNullable<RouteConfig['error_pages']>[number]
export type AcmeConfig = NonNullable<Config['acme']>
export type PortRange = { from: number, to: number }
export type TcpRouteConfig = Config['tcp_routes'][number]
