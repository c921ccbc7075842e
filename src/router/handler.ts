import type { IncomingMessage, ServerResponse } from 'node:http'
import { decide, type Decision } from './decide.js'
import { forward, type ForwardOutcome } from './forward.js'
import { upstreamRequestHeaders, type ForwardFacts } from './headers.js'
import { sendError } from './error-response.js'
import { nextRequestId } from './request-id.js'
import { clientIp } from './client-address.js'
import type { RouterDeps, RouterView } from './view.js'

export interface ListenerInfo {
  name: string
  tls: boolean
}

/**
 * The request path: read the current snapshot once (the request keeps it to the end, so a
 * reload never changes a request mid-flight), decide, then act. No I/O besides the sockets.
 */
export function createRequestHandler (deps: RouterDeps, listener: ListenerInfo): (req: IncomingMessage, res: ServerResponse) => void {
  const proto = listener.tls ? 'https' : 'http'
  return (req, res) => {
    const started = performance.now()
    const view = deps.view()
    const host = req.headers.host ?? (req.headers[':authority'] as string | undefined)
    const url = req.url ?? '/'
    const rid = nextRequestId()
    const d = decide(view.routes, { host, url, listener: listener.name, tls: listener.tls })
    const log = (status: number, bytes: number, upstream: string | undefined, error?: string): void => {
      if (!view.accessLog) return
      deps.access({
        rid, method: req.method ?? '', host, path: url, status, bytes, ms: Math.round((performance.now() - started) * 1000) / 1000,
        route: d.route?.name, upstream, action: d.action, listener: listener.name, ...(error === undefined ? {} : { error })
      })
    }
    if (d.route?.hsts !== undefined && listener.tls) res.setHeader('strict-transport-security', d.route.hsts)
    switch (d.action) {
      case 'proxy':
        proxy(view, d, req, res, rid, proto, (o) => {
          if (o.error !== undefined) sendError(res, o.error.status, o.error.reason, rid, req.headers.accept)
          log(o.error?.status ?? o.status, o.bytesOut, o.upstream, o.error?.reason)
        })
        return
      case 'deny':
        sendError(res, d.status, d.reason, rid, req.headers.accept)
        log(d.status, 0, undefined, d.reason)
        return
      case 'none':
        sendError(res, 404, d.reason, rid, req.headers.accept)
        log(404, 0, undefined, d.reason)
        return
      case 'redirect':
        res.writeHead(d.status, { location: d.location, 'content-length': 0 })
        res.end()
        log(d.status, 0, undefined)
        return
      case 'respond': {
        const a = d.route.action
        if (a.kind !== 'respond') return
        res.statusCode = a.status
        for (const [k, v] of a.headers) res.setHeader(k, v)
        res.setHeader('content-length', a.body.length)
        res.end(req.method === 'HEAD' ? undefined : a.body)
        log(a.status, a.body.length, undefined)
      }
    }
  }
}

function proxy (view: RouterView, d: Extract<Decision, { action: 'proxy' }>, req: IncomingMessage, res: ServerResponse, rid: string, proto: 'http' | 'https', done: (o: ForwardOutcome) => void): void {
  const ip = clientIp(req.socket)
  const facts: ForwardFacts = {
    clientIp: ip,
    proto,
    host: req.headers.host ?? (req.headers[':authority'] as string | undefined),
    trusted: view.trustedProxies !== undefined && view.trustedProxies.check(ip, 1) === undefined,
    requestId: rid,
    via: view.via
  }
  const origins = d.pool === undefined ? [d.target] : d.pool.candidates()
  const hostOverride = d.upstream.preserveHost ? undefined : new URL(origins[0] as string).host
  const max = d.upstream.maxBodySize
  if (max !== null && Number(req.headers['content-length'] ?? 0) > max) {
    done({ status: 413, upstream: '', bytesOut: 0 })
    sendError(res, 413, `request body larger than ${max} bytes`, rid, req.headers.accept)
    return
  }
  forward({
    req,
    res,
    origins,
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    headers: upstreamRequestHeaders(req.rawHeaders, facts, hostOverride),
    dispatcher: view.dispatchers.get(d.upstream),
    maxBodySize: max,
    serverName: d.upstream.serverName,
    onUpstreamDown: d.pool === undefined ? undefined : (o) => d.pool?.markDown(o),
    done
  })
}
