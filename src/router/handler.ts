import type { IncomingMessage, ServerResponse } from 'node:http'
import { forward, type ForwardOutcome } from './forward.js'
import { forwardFacts, upstreamRequestHeaders, type ResponseHeaderMap } from './headers.js'
import { applyUpstreamEdits } from './gates/index.js'
import { sendError } from './error-response.js'
import { nextRequestId } from './request-id.js'
import { openRequest, type OpenedRequest } from './open-request.js'
import type { ListenerInfo, RouterDeps, RouterView } from './view.js'
import { nodeReply } from './reply.js'
import { nodeRequestInfo, type RequestInfo } from './request-info.js'
import { applyPolicy, asError, internalError, routeErrorAnswer, type ProxyPlan } from './policy.js'

/**
 * The node:http / node:http2 request path: read the current snapshot once (the request keeps it
 * to the end, so a reload never changes a request mid-flight), decide, apply the shared policy
 * (src/router/policy.ts), then forward through undici what it lets through. No I/O besides the
 * sockets (and the CCP's one DNS lookup).
 */
export function createRequestHandler (deps: RouterDeps, listener: ListenerInfo): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => { guarded(deps, listener, req, res, nextRequestId(), false) }
}

function guarded (deps: RouterDeps, listener: ListenerInfo, req: IncomingMessage, res: ServerResponse, rid: string, resumed: boolean): void {
  let opened: OpenedRequest | undefined
  try {
    const view = deps.view()
    const info = nodeRequestInfo(req)
    const o = opened = openRequest(deps, view, listener, info, rid, false)
    const p = { deps, view, listener, req: info, opened: o, reply: nodeReply(res) }
    applyPolicy(p, {
      proxy: plan => {
        try { proxy(p, req, res, plan) } catch (err) { internalError(p, err) }
      },
      reopen: () => { guarded(deps, listener, req, res, rid, true) }
    }, resumed)
  } catch (err) {
    // Nothing may escape into Node's server (an uncaught exception ends the process).
    if (opened !== undefined) { internalError({ deps, opened, reply: nodeReply(res) }, err); return }
    deps.fault?.(asError(err), { rid, host: req.headers.host, path: req.url ?? '', route: undefined })
    sendError(res, 502, 'internal error', rid, undefined)
  }
}

interface Planned { view: RouterView, listener: ListenerInfo, req: RequestInfo, opened: OpenedRequest, deps: RouterDeps }

function proxy (p: Planned, req: IncomingMessage, res: ServerResponse, plan: ProxyPlan): void {
  const { view, opened } = p
  const proto = p.listener.tls ? 'https' : 'http'
  const facts = forwardFacts(p.req.peer, proto, opened.host, opened.rid, view.trustedProxies, view.via, view.clientCertHeaders, p.req.clientCert)
  // Also on portico's own error answer below (the upstream's own HSTS wins over this default).
  if (plan.hsts !== undefined) res.setHeader('strict-transport-security', plan.hsts)
  const upstream = plan.upstream
  forward({
    req,
    res,
    origins: plan.origins,
    method: p.req.method,
    path: plan.path,
    headers: applyUpstreamEdits(upstreamRequestHeaders(req.rawHeaders, facts, plan.hostOverride, plan.dropRequest), plan.edits),
    dispatcher: view.dispatchers.get(upstream),
    maxBodySize: upstream.maxBodySize,
    serverName: plan.serverName,
    dropResponseHeaders: plan.dropResponse,
    editResponseHeaders: withSticky(plan.editResponse, plan.sticky),
    pool: plan.pool,
    retries: upstream.retries,
    onUpstreamDown: plan.onUpstreamDown,
    reply: plan.through?.(nodeReply(res)),
    done: (o: ForwardOutcome) => {
      if (o.fault !== undefined) p.deps.fault?.(o.fault, { rid: opened.rid, host: opened.host, path: opened.url, route: plan.route.name })
      const own = o.error === undefined
        ? 0
        : routeErrorAnswer(nodeReply(res), plan.errorPages, o.error.status, o.error.reason, opened.rid, p.req.header('accept'), plan.cors, p.req.method)
      opened.log(o.error?.status ?? o.status, o.bytesOut + own, o.upstream, o.error?.reason ?? o.aborted, o.bytesIn, o)
    }
  })
}

/** The cookie policy's pin for the member that answered, added to the route's response edits. */
function withSticky (
  edit: ((h: ResponseHeaderMap) => void) | undefined, sticky: ((origin: string) => string | undefined) | undefined
): ((h: ResponseHeaderMap, origin: string) => void) | undefined {
  if (sticky === undefined) return edit
  return (h, origin) => {
    edit?.(h)
    const cookie = sticky(origin)
    if (cookie === undefined) return
    const prev = h['set-cookie']
    h['set-cookie'] = prev === undefined ? [cookie] : [...(Array.isArray(prev) ? prev : [prev]), cookie]
  }
}
