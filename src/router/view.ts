import type { RouteTable } from './route-table.js'
import type { IpPolicy } from './ip-policy.js'
import type { DispatcherRegistry } from './dispatchers.js'
import type { NameLookup } from './decide.js'
import type { ClientCertHeaders } from './client-cert.js'

/** The part of a snapshot the request path reads; one object per snapshot, never mutated. */
export interface RouterView {
  readonly generation: number
  readonly routes: RouteTable
  readonly trustedProxies: IpPolicy | undefined
  readonly dispatchers: DispatcherRegistry
  readonly accessLog: boolean
  /** Add `Via: 1.1 portico` to forwarded requests. */
  readonly via: boolean
  /** On TLS listeners, answer 421 when the Host header names another host than the SNI. */
  readonly strictSniHost: boolean
  /** Docker name table for `docker` routes. */
  readonly names: NameLookup | undefined
  /** HTTP-01 key authorizations on offer, by token. */
  readonly acmeHttp: ((token: string) => string | undefined) | undefined
  /** `tls.client_auth_headers`: stripped from every request, filled from verified client certificates. */
  readonly clientCertHeaders?: ClientCertHeaders
}

/** The listener a handler serves (for routes' `listeners` filters and the access log). */
export interface ListenerInfo {
  name: string
  tls: boolean
}

export interface AccessEntry {
  rid: string
  method: string
  host: string | undefined
  path: string
  status: number
  bytes: number
  /** Request body bytes: Content-Length when given, else what the connection read after the head. */
  bytesIn: number
  ms: number
  route: string | undefined
  upstream: string | undefined
  action: string
  listener: string
  error?: string
  /** Issue 18.3: client (after trusted proxies), protocol, user agent, referer, SNI. */
  client?: string
  proto?: string
  ua?: string | undefined
  referer?: string | undefined
  sni?: string | undefined
  /** The upstream's own status and its time to response headers (proxied requests). */
  upstreamStatus?: number | undefined
  upstreamMs?: number | undefined
}

export interface RouterDeps {
  view (): RouterView
  /** Called for every request (metrics); the access log line is written when enabled. */
  access (entry: AccessEntry): void
  /**
   * Whether access lines are written now. When not, the entry of a request that neither failed
   * nor got a 5xx skips the fields only the log shows (client after trusted proxies, user agent,
   * referer: header scans per request); metrics never read them. Absent: always gathered.
   */
  accessLogged?: () => boolean
  /** An exception of portico's own on the request path (a bug): logged at error level; the client got a 502 or an abort. */
  fault?: (err: Error, context: { rid: string, host: string | undefined, path: string, route: string | undefined }) => void
  /** The port the first TLS listener is bound to (asked only when it is configured as 0). */
  boundHttpsPort?: () => number | undefined
  /** Open/close notifications of upgraded tunnels (+1/-1). */
  tunnels?: (delta: number) => void
}
