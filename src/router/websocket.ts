import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Dispatcher } from 'undici'
import { decide } from './decide.js'
import { forwardFacts, upstreamRequestHeaders } from './headers.js'
import { originServerName } from './forward.js'
import { nextRequestId } from './request-id.js'
import { clientIp } from './client-address.js'
import { requestTarget } from './request-target.js'
import { misdirected } from './sni.js'
import type { ListenerInfo } from './handler.js'
import type { RouterDeps } from './view.js'

/**
 * HTTP/1.1 Upgrade (WebSocket: Guacamole, JupyterLab) proxied through undici's upgrade API,
 * then piped both ways. The tunnel holds no reference to the snapshot, so it survives reloads;
 * both sockets close together and an idle tunnel is closed after the route's idle timeout.
 */
export function createUpgradeHandler (deps: RouterDeps, listener: ListenerInfo): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    const started = performance.now()
    const view = deps.view()
    const rid = nextRequestId()
    const { host, url } = requestTarget(req.url ?? '/', req.headers.host) ?? { host: req.headers.host, url: req.url ?? '' }
    socket.on('error', destroyOnError)
    const d = (listener.tls && view.strictSniHost ? misdirected(req, host) : undefined) ?? decide(view.routes, { host, url, listener: listener.name, tls: listener.tls }, view.names)
    const log = (status: number, upstream: string | undefined, error?: string): void => {
      deps.access({
        rid, method: req.method ?? 'GET', host, path: url, status, bytes: 0, bytesIn: 0, ms: Math.round(performance.now() - started),
        route: d.route?.name, upstream, action: `${d.action}:upgrade`, listener: listener.name, ...(error === undefined ? {} : { error })
      })
    }
    if (d.action !== 'proxy') {
      const status = d.action === 'deny' ? d.status : d.action === 'redirect' ? d.status : 404
      const extra = d.action === 'redirect' ? `location: ${d.location}\r\n` : ''
      socket.end(`HTTP/1.1 ${status} ${d.action === 'redirect' ? 'Redirect' : 'Refused'}\r\n${extra}content-length: 0\r\nconnection: close\r\nx-request-id: ${rid}\r\n\r\n`)
      log(status, undefined, d.reason)
      return
    }
    const origin = d.pool === undefined ? d.target : (d.pool.candidates()[0] as string)
    const facts = forwardFacts(clientIp(req.socket), listener.tls ? 'https' : 'http', host, rid, view.trustedProxies, view.via)
    const forcedHost = host !== req.headers.host ? host : undefined
    const headers = upstreamRequestHeaders(req.rawHeaders, facts, d.upstream.preserveHost ? forcedHost : new URL(origin).host)
    const idleMs = d.upstream.websocketIdleTimeoutMs
    view.dispatchers.get(d.upstream).upgrade({ origin, path: url, method: 'GET', headers, protocol: (req.headers.upgrade ?? 'websocket'), servername: d.upstream.serverName ?? originServerName(origin) } as Dispatcher.UpgradeOptions)
      .then(({ headers: upHeaders, socket: upstream }) => {
        if (socket.destroyed) { upstream.destroy(); return }
        let out = 'HTTP/1.1 101 Switching Protocols\r\n'
        for (const [k, v] of Object.entries(upHeaders)) {
          if (v === undefined) continue
          for (const one of Array.isArray(v) ? v : [v]) out += `${k}: ${one}\r\n`
        }
        socket.write(out + '\r\n')
        if (head.length > 0) upstream.write(head)
        tunnel(socket, upstream, idleMs, deps.tunnels)
        log(101, origin)
      })
      .catch((err: NodeJS.ErrnoException) => {
        const status = err.code === 'UND_ERR_CONNECT_TIMEOUT' || err.code === 'UND_ERR_HEADERS_TIMEOUT' ? 504 : 502
        if (!socket.destroyed) socket.end(`HTTP/1.1 ${status} Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\nx-request-id: ${rid}\r\n\r\n`)
        log(status, origin, err.code ?? err.message)
      })
  }
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
