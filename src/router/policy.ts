import { CORS_RESPONSE_HEADERS, type HeaderList } from '../cors/index.js'
import { gatesOf, type Decision } from './decide.js'
import { errorAnswer } from './error-response.js'
import { pageAnswer, upstreamErrorReply, type ErrorPages } from './error-pages.js'
import { compressingReply } from '../compress/index.js'
import { serveStatic } from '../static/index.js'
import { originHost } from './origin-host.js'
import { gateRequestOf, type UpstreamEdits } from './gates/index.js'
import { poolRequestOf, type PoolRequest } from './pool-request.js'
import type { UpstreamPool } from './upstream-pool.js'
import { namesConfirmed } from './held-names.js'
import type { OpenedRequest } from './open-request.js'
import { sendAnswer, type HeaderPairs, type Reply } from './reply.js'
import type { RequestInfo } from './request-info.js'
import { responseEditor, type ResponseEditor } from './response-editor.js'
import type { CompiledRoute, UpstreamSettings } from './route-table.js'
import type { ListenerInfo, RouterDeps, RouterView } from './view.js'

const ACME_PREFIX = '/.well-known/acme-challenge/'

/** The CCP's own request headers, never forwarded. */
const EXO_HEADERS: ReadonlySet<string> = new Set(['exo-proxy-orig-host', 'exo-proxy-orig-port'])

/** A request the policy lets through to an upstream: everything a transport needs to forward it. */
export interface ProxyPlan {
  readonly route: CompiledRoute
  readonly origins: readonly string[]
  readonly upstream: UpstreamSettings
  /** Origin-form target sent upstream. */
  readonly path: string
  /** The Host field sent upstream; undefined keeps the client's. */
  readonly hostOverride: string | undefined
  readonly serverName: string | undefined
  /** Request fields never forwarded (besides hop-by-hop). */
  readonly dropRequest: ReadonlySet<string> | undefined
  readonly onUpstreamDown: ((origin: string) => void) | undefined
  /** Upstream response fields dropped (on top of hop-by-hop): a CORS route answers CORS itself. */
  readonly dropResponse: ReadonlySet<string> | undefined
  /** Route response edits, UAP cookie scoping and the CORS answer; undefined when there are none. */
  readonly editResponse: ResponseEditor | undefined
  /** The CORS answer fields, also on portico's own error answers. */
  readonly cors: HeaderList | undefined
  /** The route's HSTS value on TLS listeners (the upstream's own wins). */
  readonly hsts: string | undefined
  /** The route's error pages, for the transport's own failure answers (502/504/413). */
  readonly errorPages: ErrorPages | undefined
  /**
   * Set when the upstream's response must pass through a Reply (compression, upstream error
   * pages): the transport writes the response head and de-framed body into `through(inner)`.
   * Undefined for the common case, which transports may pass through byte for byte.
   */
  readonly through: ((inner: Reply) => Reply) | undefined
  /** What the route's gates changed for the upstream (headers; the path is in `path`). */
  readonly edits: UpstreamEdits | undefined
  /** The pool the origins come from: transports count each attempt in flight on its member (least_conn). */
  readonly pool: UpstreamPool | undefined
  /** The cookie policy's Set-Cookie for the member that answered (after a failover too), or undefined. */
  readonly sticky: ((origin: string) => string | undefined) | undefined
}

/** One request as the policy sees it; `reply` carries the answers portico writes itself. */
export interface PolicyRequest {
  readonly deps: RouterDeps
  readonly view: RouterView
  readonly listener: ListenerInfo
  readonly req: RequestInfo
  readonly opened: OpenedRequest
  readonly reply: Reply
}

export interface PolicyHooks {
  /** Forward the request as planned (possibly later: the CCP resolves its target first). */
  proxy (plan: ProxyPlan): void
  /** The decision was held (Docker names resyncing): open the request again (`resumed`) once confirmed. */
  reopen (): void
}

/**
 * Everything portico decides about a request after routing, for every transport (node:http,
 * HTTP/2, the HTTP/1.1 engine): ACME HTTP-01 answers, HSTS, CORS preflights and the CORS answer,
 * deny / none / redirect / respond, the Content-Length limit, the CCP's resolve-and-pin, and the
 * response edits of proxied requests. Transports only forward what it plans and write what it answers.
 */
export function applyPolicy (p: PolicyRequest, hooks: PolicyHooks, resumed: boolean): void {
  const { view, req, opened, listener } = p
  const { url, decision: d, rid, log } = opened
  // A Docker name while dockerd resyncs: decided again once the registry confirms it (or 503).
  if (d.action === 'deny' && d.held === true && !resumed) {
    void namesConfirmed(() => p.deps.view()).then(hooks.reopen)
    return
  }
  // ACME HTTP-01 answers come before routing and any https redirect.
  if (view.acmeHttp !== undefined && url.startsWith(ACME_PREFIX)) {
    const answer = view.acmeHttp(url.slice(ACME_PREFIX.length))
    if (answer !== undefined) {
      log(200, sendAnswer(p.reply, { status: 200, headers: [['content-type', 'text/plain']], body: answer }, req.method), undefined)
      return
    }
  }
  const hsts = listener.tls ? d.route?.hsts : undefined
  const reply = hsts === undefined ? p.reply : withFields(p.reply, [['strict-transport-security', hsts]])
  const policy = d.route?.cors
  const origin = req.header('origin')
  let cors: HeaderList | undefined
  if (policy !== undefined && origin !== undefined) {
    // A real preflight is answered here and never reaches the upstream; other OPTIONS requests do.
    if (req.method === 'OPTIONS' && req.header('access-control-request-method') !== undefined) {
      const headers = policy.preflightHeaders(origin)
      const status = headers === undefined && policy.denyDisallowed ? 403 : 204
      reply.head(status, [...headers ?? [], ['content-length', '0'], ['x-request-id', rid]])
      reply.end()
      log(status, 0, undefined, headers === undefined ? 'origin not allowed' : undefined)
      return
    }
    cors = policy.responseHeaders(origin)
  }
  const pages = d.route?.errorPages
  const reject: Reject = (status, reason, logged = reason) => {
    log(status, routeErrorAnswer(reply, pages, status, reason, rid, req.header('accept'), cors, req.method), undefined, logged)
  }
  if (policy !== undefined && origin !== undefined && cors === undefined && policy.denyDisallowed) {
    reject(403, 'origin not allowed')
    return
  }
  let edits: UpstreamEdits | undefined
  const plan = (route: CompiledRoute, origins: readonly string[], upstream: UpstreamSettings, t: PlanTarget): void => {
    const max = upstream.maxBodySize
    if (max !== null && req.declaredLength > max) {
      reject(413, `request body larger than ${max} bytes`, 'body too large')
      return
    }
    hooks.proxy({
      route,
      origins,
      upstream,
      path: t.path,
      hostOverride: t.hostOverride ?? (upstream.preserveHost ? opened.forcedHost : originHost(origins[0] as string)),
      serverName: t.serverName,
      dropRequest: t.drop,
      onUpstreamDown: t.onUpstreamDown,
      dropResponse: policy !== undefined ? CORS_RESPONSE_HEADERS : undefined,
      editResponse: responseEditor(route, opened.host, cors),
      cors,
      hsts,
      errorPages: route.errorPages,
      through: throughFor(route, req, rid, cors),
      edits,
      pool: t.pool?.pool,
      sticky: stickyFor(t.pool)
    })
  }
  // Gates run after the preflight answer (browsers send no credentials there).
  const gates = gatesOf(d)
  if (gates === undefined) {
    act(p, d, reply, cors, reject, plan)
    return
  }
  gates.run(gateRequestOf(req, url, opened.host, listener.tls ? 'https' : 'http', rid, view.trustedProxies)).then(v => {
    if (!v.pass) {
      const a = v.refusal.answer
      log(a.status, sendAnswer(reply, { ...a, headers: [...cors ?? [], ...a.headers] }, req.method), undefined, v.refusal.reason)
      return
    }
    edits = v.edits
    act(p, d, reply, cors, reject, plan, v.edits.path)
  }).catch(err => { internalError(p, err) })
}

interface PlanTarget {
  path: string
  hostOverride?: string | undefined
  serverName: string | undefined
  drop?: ReadonlySet<string>
  onUpstreamDown?: ((origin: string) => void) | undefined
  pool?: PoolRequest | undefined
}

/** The cookie policy pins the client to the member that answered. */
function stickyFor (pr: PoolRequest | undefined): ((origin: string) => string | undefined) | undefined {
  if (pr?.pool.sticky === undefined) return undefined
  return origin => pr.pool.stickyFor(origin, pr.cookie)
}

type Planner = (route: CompiledRoute, origins: readonly string[], upstream: UpstreamSettings, t: PlanTarget) => void

type Reject = (status: number, reason: string, logged?: string) => void

function act (p: PolicyRequest, d: Decision, reply: Reply, cors: HeaderList | undefined, reject: Reject, plan: Planner, gatedPath?: string): void {
  const { log, url } = p.opened
  switch (d.action) {
    case 'proxy': {
      const pr = d.pool === undefined ? undefined : poolRequestOf(d.pool, p.req, p.view.trustedProxies)
      plan(d.route, d.alternatives ?? pr?.origins ?? [d.target], d.upstream, {
        path: gatedPath ?? url,
        serverName: d.upstream.serverName,
        onUpstreamDown: d.pool === undefined ? undefined : (o) => d.pool?.markDown(o),
        pool: pr
      })
      return
    }
    case 'cors-proxy':
      corsProxy(p, d, reject, plan)
      return
    case 'deny':
      reject(d.status, d.reason)
      return
    case 'none':
      reject(404, d.reason)
      return
    case 'redirect':
      log(d.status, sendAnswer(reply, { status: d.status, headers: [...cors ?? [], ['location', d.location]], body: '' }, 'GET'), undefined)
      return
    case 'respond': {
      const a = d.respond
      const out = routeReply(reply, d.route, p.req)
      log(a.status, sendAnswer(out, { status: a.status, headers: [...cors ?? [], ...a.headers], body: a.body }, p.req.method), undefined)
      return
    }
    case 'static':
      serveFiles(p, d, cors === undefined ? routeReply(reply, d.route, p.req) : withFields(routeReply(reply, d.route, p.req), cors), reject)
  }
}

/** The route's Reply for answers portico writes: compressed when the route asks for it. */
function routeReply (reply: Reply, route: CompiledRoute, req: RequestInfo): Reply {
  const c = route.compress
  return c === undefined ? reply : compressingReply(reply, c, { method: req.method, acceptEncoding: req.header('accept-encoding') })
}

/** Only routes with compression or upstream error pages pass proxied responses through a Reply. */
function throughFor (route: CompiledRoute, req: RequestInfo, rid: string, cors: HeaderList | undefined): ((inner: Reply) => Reply) | undefined {
  const pages = route.errorPages
  if (route.compress === undefined && pages === undefined) return undefined
  return inner => {
    const r = routeReply(inner, route, req)
    return pages === undefined ? r : upstreamErrorReply(r, pages, req.method, [['x-request-id', rid], ...cors ?? []])
  }
}

/**
 * portico's own error answer: the route's error page for the status when it has one, else the
 * standard error answer. Transports call it for their failures (502/504/413) with the plan's pages.
 */
export function routeErrorAnswer (
  reply: Reply, pages: ErrorPages | undefined, status: number, reason: string, rid: string, accept: string | undefined,
  cors: HeaderPairs | undefined, method: string
): number {
  const page = pages?.find(status)
  if (page === undefined) return errorAnswer(reply, status, reason, rid, accept, cors, method)
  if (reply.headSent) { reply.destroy(); return 0 }
  return sendAnswer(reply, pageAnswer(page, status, [['x-request-id', rid], ...cors ?? []]), method)
}

function serveFiles (p: PolicyRequest, d: Extract<Decision, { action: 'static' }>, reply: Reply, reject: (status: number, reason: string) => void): void {
  const { log, url } = p.opened
  serveStatic(d.site, { method: p.req.method, url, header: p.req.header }, reply).then(o => {
    if (o.kind === 'error') reject(o.status, o.reason)
    else log(o.status, o.bytes, undefined)
  }, (err: unknown) => {
    // A read error once the head is out can only abort the response (the file stream did).
    if (!reply.headSent) { internalError(p, err); return }
    const e = asError(err)
    p.deps.fault?.(e, { rid: p.opened.rid, host: p.opened.host, path: url, route: d.route.name })
    log(0, 0, undefined, `file read failed: ${e.message}`)
  }).catch(err => { internalError(p, err) })
}

/** Exosphere's Cloud CORS Proxy: target from the exo headers, checked, resolved once, pinned. */
function corsProxy (p: PolicyRequest, d: Extract<Decision, { action: 'cors-proxy' }>, reject: Reject, plan: Planner): void {
  const a = d.ccp
  a.policy.resolve(p.req.header('exo-proxy-orig-host'), p.req.header('exo-proxy-orig-port')).then(r => {
    if (!r.ok) {
      reject(r.status, r.reason)
      return
    }
    plan(d.route, [r.target.origin], a.upstream, {
      path: stripPrefix(p.opened.url, a.prefix),
      hostOverride: r.target.hostHeader,
      serverName: r.target.serverName,
      drop: EXO_HEADERS
    })
  }, (err: Error) => {
    reject(502, `target check failed: ${err.message}`, err.message)
  }).catch(err => { internalError(p, err) })
}

/** `/proxy/v3/x?y` → `/v3/x?y`; the rest of the path and query pass byte for byte. */
function stripPrefix (url: string, prefix: string): string {
  const rest = url.slice(prefix.length)
  return rest === '' || rest.charCodeAt(0) === 63 /* ? */ ? `/${rest}` : rest
}

export const asError = (err: unknown): Error => err instanceof Error ? err : new Error(String(err))

/** An exception of portico's own: logged at error level, answered 502 (or the response aborted). */
export function internalError (p: Pick<PolicyRequest, 'deps' | 'opened' | 'reply'>, err: unknown): void {
  const e = asError(err)
  const { rid, host, url, decision, log } = p.opened
  p.deps.fault?.(e, { rid, host, path: url, route: decision.route?.name })
  log(p.reply.headSent ? 0 : 502, 0, undefined, `internal error: ${e.message}`)
  errorAnswer(p.reply, 502, 'internal error', rid, undefined)
}

/** A reply whose head carries `fields` too (HSTS on every answer of a TLS route). */
export function withFields (reply: Reply, fields: HeaderPairs): Reply {
  return {
    get headSent () { return reply.headSent },
    head: (status, headers) => { reply.head(status, [...headers, ...fields]) },
    write: chunk => reply.write(chunk),
    end: chunk => { reply.end(chunk) },
    onDrain: fn => { reply.onDrain(fn) },
    onClose: fn => { reply.onClose(fn) },
    destroy: () => { reply.destroy() }
  }
}
