import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { CORS_RESPONSE_HEADERS, type HeaderList } from '../cors/index.js'
import { decide, type Decision } from './decide.js'
import { forward, type ForwardOutcome } from './forward.js'
import { forwardFacts, upstreamRequestHeaders } from './headers.js'
import { sendError } from './error-response.js'
import { nextRequestId } from './request-id.js'
import { clientIp } from './client-address.js'
import type { CompiledRoute, UpstreamSettings } from './route-table.js'
import { scopeSetCookies } from './cookies.js'
import { normalizeHost } from './host.js'
import { requestTarget } from './request-target.js'
import { misdirected } from './sni.js'
import { h2StreamOf } from './h2-stream.js'
import { requestAccessFields } from './access-fields.js'
import type { RouterDeps, RouterView } from './view.js'

export interface ListenerInfo {
  name: string
  tls: boolean
}

const ACME_PREFIX = '/.well-known/acme-challenge/'

/** The CCP's own request headers, never forwarded. */
const EXO_HEADERS: ReadonlySet<string> = new Set(['exo-proxy-orig-host', 'exo-proxy-orig-port'])

/** Per-request state shared by the action handlers below. */
interface Exchange {
  view: RouterView
  req: IncomingMessage
  res: ServerResponse
  rid: string
  /** Host header (or :authority, or the absolute-form target's authority) as received. */
  host: string | undefined
  /** Origin-form request target (path and query) as received. */
  url: string
  /** Set when the target was absolute-form: the Host to send upstream even with preserve_host. */
  forcedHost: string | undefined
  proto: 'http' | 'https'
  cors: HeaderList | undefined
  corsRoute: boolean
  fail: (status: number, reason: string) => void
  log: (status: number, bytes: number, upstream: string | undefined, error?: string, up?: ForwardOutcome) => void
}

/**
 * The request path: read the current snapshot once (the request keeps it to the end, so a
 * reload never changes a request mid-flight), decide, answer CORS, then act. No I/O besides
 * the sockets (and the CCP's one DNS lookup).
 */
export function createRequestHandler (deps: RouterDeps, listener: ListenerInfo): (req: IncomingMessage, res: ServerResponse) => void {
  const proto = listener.tls ? 'https' : 'http'
  return (req, res) => {
    const started = performance.now()
    const readAtStart = req.socket?.bytesRead ?? 0
    const view = deps.view()
    // RFC 9112 §3.2: more than one Host line is a 400, like a missing one (decide() answers it).
    const hostHeader = h2StreamOf(req) === undefined ? singleHost(req.rawHeaders) : req.headers[':authority'] as string | undefined ?? req.headers.host
    // Absolute-form targets bring their own host; other non-path targets are refused by decide().
    const target = requestTarget(req.url ?? '/', hostHeader) ?? { host: hostHeader, url: req.url ?? '' }
    const { host, url } = target
    // An absolute-form target's authority also replaces the Host header sent upstream.
    const forcedHost = host !== hostHeader ? host : undefined
    const rid = nextRequestId()
    // ACME HTTP-01 answers come before routing and any https redirect.
    if (view.acmeHttp !== undefined && url.startsWith(ACME_PREFIX)) {
      const answer = view.acmeHttp(url.slice(ACME_PREFIX.length))
      if (answer !== undefined) {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(answer) })
        res.end(answer)
        return
      }
    }
    const d = (listener.tls && view.strictSniHost ? misdirected(req, host) : undefined) ?? decide(view.routes, { host, url, listener: listener.name, tls: listener.tls }, view.names)
    // Body bytes of portico's own error answer (fail()), added to what the log call reports.
    let errorBytes = 0
    const log = (status: number, bytes: number, upstream: string | undefined, error?: string, up?: ForwardOutcome): void => {
      deps.access({
        ...requestAccessFields(req, view.trustedProxies), upstreamStatus: up?.upstreamStatus, upstreamMs: up?.upstreamMs,
        rid, method: req.method ?? '', host, path: url, status, bytes: bytes + errorBytes, bytesIn: req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) || 0 : (req.socket?.bytesRead ?? readAtStart) - readAtStart, ms: Math.round((performance.now() - started) * 1000) / 1000,
        route: d.route?.name, upstream, action: d.action, listener: listener.name, ...(error === undefined ? {} : { error })
      })
    }
    if (d.route?.hsts !== undefined && listener.tls) res.setHeader('strict-transport-security', d.route.hsts)
    const policy = d.route?.cors
    const origin = req.headers.origin
    let cors: HeaderList | undefined
    if (policy !== undefined && origin !== undefined) {
      // A real preflight is answered here and never reaches the upstream; other OPTIONS requests do.
      if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
        const headers = policy.preflightHeaders(origin)
        const status = headers === undefined && policy.denyDisallowed ? 403 : 204
        res.writeHead(status, [...(headers ?? []).flat(), 'content-length', '0', 'x-request-id', rid])
        res.end()
        log(status, 0, undefined, headers === undefined ? 'origin not allowed' : undefined)
        return
      }
      cors = policy.responseHeaders(origin)
    }
    const fail = (status: number, reason: string): void => { errorBytes = sendError(res, status, reason, rid, req.headers.accept, cors) }
    const x: Exchange = { view, req, res, rid, host, url, forcedHost, proto, cors, corsRoute: policy !== undefined, fail, log }
    if (policy !== undefined && origin !== undefined && cors === undefined && policy.denyDisallowed) {
      fail(403, 'origin not allowed')
      log(403, 0, undefined, 'origin not allowed')
      return
    }
    act(x, d)
  }
}

function act (x: Exchange, d: Decision): void {
  const { req, res } = x
  switch (d.action) {
    case 'proxy':
      proxy(x, d.alternatives ?? (d.pool === undefined ? [d.target] : d.pool.candidates()), d.upstream, {
        route: d.route,
        path: x.url,
        hostOverride: undefined,
        serverName: d.upstream.serverName,
        onUpstreamDown: d.pool === undefined ? undefined : (o) => d.pool?.markDown(o),
        preserveHost: d.upstream.preserveHost
      })
      return
    case 'cors-proxy':
      corsProxy(x, d)
      return
    case 'deny':
      x.fail(d.status, d.reason)
      x.log(d.status, 0, undefined, d.reason)
      return
    case 'none':
      x.fail(404, d.reason)
      x.log(404, 0, undefined, d.reason)
      return
    case 'redirect':
      setAll(res, x.cors)
      res.writeHead(d.status, { location: d.location, 'content-length': 0 })
      res.end()
      x.log(d.status, 0, undefined)
      return
    case 'respond': {
      const a = d.route.action
      if (a.kind !== 'respond') return
      setAll(res, x.cors)
      res.statusCode = a.status
      for (const [k, v] of a.headers) res.setHeader(k, v)
      res.setHeader('content-length', a.body.length)
      res.end(req.method === 'HEAD' ? undefined : a.body)
      x.log(a.status, a.body.length, undefined)
    }
  }
}

/** Exosphere's Cloud CORS Proxy: target from the exo headers, checked, resolved once, pinned. */
function corsProxy (x: Exchange, d: Extract<Decision, { action: 'cors-proxy' }>): void {
  const a = d.route.action
  if (a.kind !== 'cors-proxy') return
  a.policy.resolve(x.req.headers['exo-proxy-orig-host'], x.req.headers['exo-proxy-orig-port']).then(r => {
    if (!r.ok) {
      x.fail(r.status, r.reason)
      x.log(r.status, 0, undefined, r.reason)
      return
    }
    proxy(x, [r.target.origin], a.upstream, {
      route: d.route,
      path: stripPrefix(x.url, a.prefix),
      hostOverride: r.target.hostHeader,
      serverName: r.target.serverName,
      drop: EXO_HEADERS,
      preserveHost: false
    })
  }, (err: Error) => {
    x.fail(502, `target check failed: ${err.message}`)
    x.log(502, 0, undefined, err.message)
  })
}

interface ProxyTarget {
  route: CompiledRoute
  path: string
  hostOverride: string | undefined
  serverName: string | undefined
  preserveHost: boolean
  drop?: ReadonlySet<string>
  onUpstreamDown?: ((origin: string) => void) | undefined
}

function proxy (x: Exchange, origins: string[], upstream: UpstreamSettings, t: ProxyTarget): void {
  const { req, res, view } = x
  const facts = forwardFacts(clientIp(req.socket), x.proto, x.host, x.rid, view.trustedProxies, view.via)
  const hostOverride = t.hostOverride ?? (t.preserveHost ? x.forcedHost : new URL(origins[0] as string).host)
  const max = upstream.maxBodySize
  if (max !== null && Number(req.headers['content-length'] ?? 0) > max) {
    x.fail(413, `request body larger than ${max} bytes`)
    x.log(413, 0, undefined, 'body too large')
    return
  }
  const cors = x.cors
  forward({
    req,
    res,
    origins,
    method: req.method ?? 'GET',
    path: t.path,
    headers: upstreamRequestHeaders(req.rawHeaders, facts, hostOverride, t.drop),
    dispatcher: view.dispatchers.get(upstream),
    maxBodySize: max,
    serverName: t.serverName,
    dropResponseHeaders: x.corsRoute ? CORS_RESPONSE_HEADERS : undefined,
    editResponseHeaders: responseEditor(t.route, x, cors),
    onUpstreamDown: t.onUpstreamDown,
    done: (o: ForwardOutcome) => {
      if (o.error !== undefined) x.fail(o.error.status, o.error.reason)
      x.log(o.error?.status ?? o.status, o.bytesOut, o.upstream, o.error?.reason, o)
    }
  })
}

/** Composes the route's response edits, or returns undefined when there are none (the common case). */
function responseEditor (route: CompiledRoute, x: Exchange, cors: HeaderList | undefined): ((h: IncomingHttpHeaders) => void) | undefined {
  const edits = route.responseHeaders
  const cookieHost = route.action.kind === 'uap' && route.action.cookieScoping ? normalizeHost(x.host) : undefined
  if (edits === undefined && cookieHost === undefined && cors === undefined) return undefined
  return h => {
    if (edits !== undefined) {
      for (const k of edits.remove) delete h[k]
      for (const [k, v] of edits.set) h[k] = v
    }
    if (cookieHost !== undefined) scopeSetCookies(h, cookieHost)
    if (cors !== undefined) addCors(h, cors)
  }
}

function addCors (h: IncomingHttpHeaders, cors: HeaderList): void {
  for (const [k, v] of cors) {
    if (k === 'vary') {
      const prev = h.vary
      h.vary = prev === undefined || prev === '' ? v : /\borigin\b/i.test(String(prev)) ? prev : `${String(prev)}, ${v}`
    } else {
      h[k] = v
    }
  }
}

/** The Host header's value, or undefined when it is missing or repeated. */
function singleHost (raw: readonly string[]): string | undefined {
  let host: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue
    if (host !== undefined) return undefined
    host = raw[i + 1] as string
  }
  return host
}

function setAll (res: ServerResponse, headers: HeaderList | undefined): void {
  if (headers !== undefined) for (const [k, v] of headers) res.setHeader(k, v)
}

/** `/proxy/v3/x?y` → `/v3/x?y`; the rest of the path and query pass byte for byte. */
function stripPrefix (url: string, prefix: string): string {
  const rest = url.slice(prefix.length)
  return rest === '' || rest.charCodeAt(0) === 63 /* ? */ ? `/${rest}` : rest
}
