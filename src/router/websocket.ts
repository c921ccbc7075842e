import { nodePoolRequest } from './pool-request.js'
import { STATUS_CODES, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Dispatcher } from 'undici'
import { openRequest } from './open-request.js'
import { clientResponseHeaders, forwardFacts, upstreamRequestHeaders, type ResponseHeaderMap } from './headers.js'
import { upstreamServerName } from './forward.js'
import { nextRequestId } from './request-id.js'
import { clientIp } from './client-address.js'
import type { ListenerInfo, RouterDeps } from './view.js'

/**
 * HTTP/1.1 Upgrade (WebSocket: Guacamole, JupyterLab) dispatched through undici with `upgrade`,
 * then piped both ways (a declined upgrade's answer is passed on instead). The tunnel holds no reference to the snapshot, so it survives reloads;
 * both sockets close together and an idle tunnel is closed after the route's idle timeout.
 */
export function createUpgradeHandler (deps: RouterDeps, listener: ListenerInfo): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    const rid = nextRequestId()
    try {
      upgrade(deps, listener, req, socket, head, rid)
    } catch (err) {
      // As on the HTTP path: a bug is logged at error level and answered with a 502.
      deps.fault?.(err instanceof Error ? err : new Error(String(err)), { rid, host: req.headers.host, path: req.url ?? '', route: undefined })
      if (!socket.destroyed) socket.end(`${statusLine(502)}content-length: 0\r\nconnection: close\r\nx-request-id: ${rid}\r\n\r\n`)
    }
  }
}

function upgrade (deps: RouterDeps, listener: ListenerInfo, req: IncomingMessage, socket: Duplex, head: Buffer, rid: string): void {
  const view = deps.view()
  socket.on('error', destroyOnError)
  const { host, url, forcedHost, decision: d, log } = openRequest(deps, view, listener, req, rid, true)
  if (d.action !== 'proxy') {
    const status = d.action === 'deny' || d.action === 'redirect' ? d.status : 404
    const extra = d.action === 'redirect' ? `location: ${d.location}\r\n` : ''
    socket.end(`${statusLine(status)}${extra}content-length: 0\r\nconnection: close\r\nx-request-id: ${rid}\r\n\r\n`)
    log(status, 0, undefined, d.reason)
    return
  }
  const origin = d.pool === undefined ? d.target : (nodePoolRequest(d.pool, req, view.trustedProxies).origins[0] as string)
  const facts = forwardFacts(clientIp(req.socket), listener.tls ? 'https' : 'http', host, rid, view.trustedProxies, view.via)
  const headers = upstreamRequestHeaders(req.rawHeaders, facts, d.upstream.preserveHost ? forcedHost : new URL(origin).host)
  const idleMs = d.upstream.websocketIdleTimeoutMs
  const options = {
    origin, path: url, method: 'GET', headers, body: null, upgrade: req.headers.upgrade ?? 'websocket',
    servername: upstreamServerName(d.upstream.serverName, origin)
  } as Dispatcher.DispatchOptions
  let answered = false
  view.dispatchers.get(d.upstream).dispatch(options, {
    onRequestStart () {},
    onRequestUpgrade (_controller, _status, upHeaders, upstream) {
      if (socket.destroyed) { upstream.destroy(); return }
      answered = true
      socket.write(responseHead(101, 'Switching Protocols', upHeaders, false))
      if (head.length > 0) upstream.write(head)
      tunnel(socket, upstream as Duplex, idleMs, deps.tunnels)
      log(101, 0, origin)
    },
    // The upstream declined the upgrade (a 404 for a gone Jupyter kernel, a 401...): its answer
    // is passed on as it is, then the connection closes (it was never a tunnel).
    onResponseStart (controller, status, upHeaders, statusText) {
      if (status < 200) return
      if (socket.destroyed) { controller.abort(new Error('client closed the connection')); return }
      answered = true
      socket.write(responseHead(status, statusText ?? '', clientResponseHeaders(upHeaders), true))
      log(status, 0, origin)
    },
    onResponseData (_controller, chunk) { socket.write(chunk) },
    onResponseEnd () { socket.end() },
    onResponseError (_controller, err) {
      if (answered) { socket.destroy(); return }
      const code = (err as NodeJS.ErrnoException).code
      const status = code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' ? 504 : 502
      if (!socket.destroyed) socket.end(`${statusLine(status)}content-length: 0\r\nconnection: close\r\nx-request-id: ${rid}\r\n\r\n`)
      log(status, 0, origin, code ?? err.message)
    }
  })
}

const statusLine = (status: number): string => `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n`

/** An HTTP/1.1 response head for the raw client socket; `close` marks the end of a declined upgrade. */
function responseHead (status: number, text: string, headers: ResponseHeaderMap, close: boolean): string {
  let out = `HTTP/1.1 ${status} ${text.replace(/[\r\n]/g, '')}\r\n`
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue
    for (const one of Array.isArray(v) ? v : [v]) out += `${k}: ${one}\r\n`
  }
  return `${out}${close ? 'connection: close\r\n' : ''}\r\n`
}

/**
 * Module-level on purpose: a closure here would keep the handler's whole scope (the request, its
 * head buffer, the routing decision with the route of the snapshot it came from) alive for as
 * long as the tunnel stays open — ≈ 1.5 KiB per idle websocket, and routes of replaced snapshots.
 */
function destroyOnError (this: Duplex): void { this.destroy() }

export function tunnel (a: Duplex, b: Duplex, idleMs: number, count?: (delta: number) => void): void {
  count?.(1)
  let open = true
  const closeBoth = (): void => {
    if (open) { open = false; count?.(-1) }
    a.destroy(); b.destroy()
  }
  a.on('error', closeBoth); b.on('error', closeBoth)
  a.on('close', closeBoth); b.on('close', closeBoth)
  const setIdle = (s: Duplex): void => {
    const sock = s as Duplex & { setTimeout?: (ms: number, cb: () => void) => void }
    if (typeof sock.setTimeout === 'function' && idleMs > 0) sock.setTimeout(idleMs, closeBoth)
  }
  setIdle(a); setIdle(b)
  a.pipe(b); b.pipe(a)
}
