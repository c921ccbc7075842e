import type { IncomingMessage, ServerResponse } from 'node:http'
import { CORS_RESPONSE_HEADERS, type HeaderList } from '../cors/index.js'
import type { Decision } from './decide.js'
import { forward, type ForwardOutcome } from './forward.js'
import { forwardFacts, upstreamRequestHeaders } from './headers.js'
import { sendError } from './error-response.js'
import { nextRequestId } from './request-id.js'
import { clientIp } from './client-address.js'
import type { CompiledRoute, UpstreamSettings } from './route-table.js'
import { responseEditor } from './response-editor.js'
import { openRequest, type OpenedRequest } from './open-request.js'
import type { ListenerInfo, RouterDeps, RouterView } from './view.js'
import { namesConfirmed } from './held-names.js'
import { nodeReply, sendAnswer, type Reply } from './reply.js'
import { pageAnswer, upstreamErrorReply } from './error-pages.js'
import { compressingReply } from '../compress/index.js'
import { serveStatic } from '../static/index.js'

const ACME_PREFIX = '/.well-known/acme-challenge/'

/** The CCP's own request headers, never forwarded. */
const EXO_HEADERS: ReadonlySet<string> = new Set(['exo-proxy-orig-host', 'exo-proxy-orig-port'])

/** Per-request state shared by the action handlers below. */
interface Exchange extends OpenedRequest {
  view: RouterView
  req: IncomingMessage
  res: ServerResponse
  proto: 'http' | 'https'
  cors: HeaderList | undefined
  corsRoute: boolean
  /** portico's own answer (an error page) and its access entry. */
  reject: (status: number, reason: string, logged?: string) => void
  /** portico's own error answer (the route's error page when it has one); returns the body bytes. */
  answerError: (status: number, reason: string) => number
  /** An exception of portico's own: logged at error level, answered 502 (or the response aborted). */
  internal: (err: unknown) => void
  /** Logs a portico exception at error level (the caller answers). */
  fault: (err: Error) => void
}

/**
 * The request path: read the current snapshot once (the request keeps it to the end, so a
 * reload never changes a request mid-flight), decide, answer CORS, then act. No I/O besides
 * the sockets (and the CCP's one DNS lookup).
 */
export function createRequestHandler (deps: RouterDeps, listener: ListenerInfo): (req: IncomingMessage, res: ServerResponse) => void {
  const proto = listener.tls ? 'https' : 'http'
  return (req, res) => { guarded(deps, listener, proto, req, res, nextRequestId(), false) }
}

function guarded (
  deps: RouterDeps, listener: ListenerInfo, proto: 'http' | 'https', req: IncomingMessage, res: ServerResponse, rid: string, resumed: boolean
): void {
  try {
    handle(deps, listener, proto, req, res, rid, resumed)
  } catch (err) {
    // Nothing may escape into Node's server (an uncaught exception ends the process).
    deps.fault?.(asError(err), { rid, host: req.headers.host, path: req.url ?? '', route: undefined })
    answerInternal(res, rid)
  }
}

function handle (
  deps: RouterDeps, listener: ListenerInfo, proto: 'http' | 'https', req: IncomingMessage, res: ServerResponse, rid: string, resumed: boolean
): void {
  const view = deps.view()
  const opened = openRequest(deps, view, listener, req, rid, false)
  const { url, decision: d, log } = opened
  // A Docker name while dockerd resyncs: decided again once the registry confirms it (or 503).
  if (d.action === 'deny' && d.held === true && !resumed) {
    void namesConfirmed(deps.view).then(() => { guarded(deps, listener, proto, req, res, rid, true) })
    return
  }
  // ACME HTTP-01 answers come before routing and any https redirect.
  if (view.acmeHttp !== undefined && url.startsWith(ACME_PREFIX)) {
    const answer = view.acmeHttp(url.slice(ACME_PREFIX.length))
    if (answer !== undefined) {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(answer) })
      res.end(answer)
      return
    }
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
  // The access entry's bytes include portico's own error bodies.
  const answerError = (status: number, reason: string): number => {
    const page = d.route?.errorPages?.find(status)
    if (page === undefined) return sendError(res, status, reason, rid, req.headers.accept, cors)
    if (res.headersSent) { res.destroy(); return 0 }
    return sendAnswer(nodeReply(res), pageAnswer(page, status, [['x-request-id', rid], ...cors ?? []]), req.method ?? 'GET')
  }
  const reject = (status: number, reason: string, logged = reason): void => {
    log(status, answerError(status, reason), undefined, logged)
  }
  const fault = (err: Error): void => deps.fault?.(err, { rid, host: opened.host, path: url, route: d.route?.name })
  const internal = (err: unknown): void => {
    fault(asError(err))
    log(res.headersSent ? res.statusCode : 502, 0, undefined, `internal error: ${asError(err).message}`)
    answerInternal(res, rid)
  }
  const x: Exchange = { ...opened, view, req, res, proto, cors, corsRoute: policy !== undefined, reject, answerError, internal, fault }
  if (policy !== undefined && origin !== undefined && cors === undefined && policy.denyDisallowed) {
    reject(403, 'origin not allowed')
    return
  }
  act(x, d)
}

const asError = (err: unknown): Error => err instanceof Error ? err : new Error(String(err))

/** A 502 when nothing was sent yet, else an aborted response: never a truncated one that looks complete. */
function answerInternal (res: ServerResponse, rid: string): void {
  if (res.headersSent) res.destroy()
  else sendError(res, 502, 'internal error', rid, undefined)
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
      x.reject(d.status, d.reason)
      return
    case 'none':
      x.reject(404, d.reason)
      return
    case 'redirect':
      x.log(d.status, sendAnswer(nodeReply(res), { status: d.status, headers: [...x.cors ?? [], ['location', d.location]], body: '' }, 'GET'), undefined)
      return
    case 'respond': {
      const a = d.respond
      const headers = [...x.cors ?? [], ...a.headers]
      x.log(a.status, sendAnswer(routeReply(x, d.route), { status: a.status, headers, body: a.body }, req.method ?? 'GET'), undefined)
      return
    }
    case 'static':
      serveFiles(x, d)
  }
}

/** The route's Reply: node:http / h2 underneath, compressed when the route asks for it. */
function routeReply (x: Exchange, route: CompiledRoute): Reply {
  const inner = nodeReply(x.res)
  const c = route.compress
  if (c === undefined) return inner
  return compressingReply(inner, c, { method: x.req.method ?? 'GET', acceptEncoding: x.req.headers['accept-encoding'] })
}

/** Adds the route's CORS headers to whatever the inner code answers (fonts and JSON fetched cross-origin). */
function withHeaders (inner: Reply, extra: HeaderList | undefined): Reply {
  if (extra === undefined || extra.length === 0) return inner
  return {
    ...inner,
    get headSent () { return inner.headSent },
    head: (status, headers) => { inner.head(status, [...extra, ...headers]) }
  }
}

function serveFiles (x: Exchange, d: Extract<Decision, { action: 'static' }>): void {
  const { req } = x
  const reply = withHeaders(routeReply(x, d.route), x.cors)
  const header = (name: string): string | undefined => { const v = req.headers[name]; return Array.isArray(v) ? v.join(', ') : v }
  serveStatic(d.site, { method: req.method ?? 'GET', url: x.url, header }, reply).then(o => {
    if (o.kind === 'error') x.reject(o.status, o.reason)
    else x.log(o.status, o.bytes, undefined)
  }, (err: unknown) => {
    // A read error once the head is out can only abort the response (streamFile did).
    if (!reply.headSent) { x.internal(err); return }
    x.fault(asError(err))
    x.log(x.res.statusCode, 0, undefined, `file read failed: ${asError(err).message}`)
  }).catch(x.internal)
}

/** Exosphere's Cloud CORS Proxy: target from the exo headers, checked, resolved once, pinned. */
function corsProxy (x: Exchange, d: Extract<Decision, { action: 'cors-proxy' }>): void {
  const a = d.ccp
  a.policy.resolve(x.req.headers['exo-proxy-orig-host'], x.req.headers['exo-proxy-orig-port']).then(r => {
    if (!r.ok) {
      x.reject(r.status, r.reason)
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
    x.reject(502, `target check failed: ${err.message}`, err.message)
  }).catch(x.internal)
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
    x.reject(413, `request body larger than ${max} bytes`, 'body too large')
    return
  }
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
    editResponseHeaders: responseEditor(t.route, x.host, x.cors),
    retries: upstream.retries,
    onUpstreamDown: t.onUpstreamDown,
    reply: proxyReply(x, t.route),
    done: (o: ForwardOutcome) => {
      if (o.fault !== undefined) x.fault(o.fault)
      const own = o.error === undefined ? 0 : x.answerError(o.error.status, o.error.reason)
      x.log(o.error?.status ?? o.status, o.bytesOut + own, o.upstream, o.error?.reason ?? o.aborted, o.bytesIn, o)
    }
  })
}

/** Only routes with compression or upstream error pages write proxied responses through a Reply. */
function proxyReply (x: Exchange, route: CompiledRoute): Reply | undefined {
  if (route.compress === undefined && route.errorPages === undefined) return undefined
  const r = routeReply(x, route)
  if (route.errorPages === undefined) return r
  return upstreamErrorReply(r, route.errorPages, x.req.method ?? 'GET', [['x-request-id', x.rid], ...x.cors ?? []])
}

/** `/proxy/v3/x?y` → `/v3/x?y`; the rest of the path and query pass byte for byte. */
function stripPrefix (url: string, prefix: string): string {
  const rest = url.slice(prefix.length)
  return rest === '' || rest.charCodeAt(0) === 63 /* ? */ ? `/${rest}` : rest
}
