import net, { type Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import type { IpPolicy } from '../router/index.js'
import { acceptProxyHeader, adoptPeer } from './proxy-accept.js'
import { plainAddress, type Endpoint } from './proxy-protocol.js'
import type { TcpAccessEntry } from './tcp-connection.js'

export interface ProxyFrontDeps {
  /** The trusted balancers of the current snapshot. */
  trusted: () => IpPolicy | undefined
  /** The deadline for the whole header (`handshake_timeout`). */
  timeoutMs: number
  /** A connection closed for a missing, malformed or untrusted header: one entry as on TCP listeners (metrics, log). */
  refused: (e: TcpAccessEntry) => void
  listener: string
  /** TLS listeners: the raw socket is handed to a tls.Server, which starts the handshake itself. */
  tls: boolean
}

export interface ProxyFront {
  /** Bound by the caller; hands each connection to `inner` once its header was read. */
  readonly server: net.Server
  /**
   * On the inner TLS server's `secureConnection` (before anyone reads the peer): the TLS socket
   * reads its address from the TCP handle, so the header's client is adopted again here.
   */
  adoptTls: (socket: TLSSocket) => void
}

/**
 * A listener that accepts PROXY protocol (`accept_proxy_protocol` on an HTTP/HTTPS listener):
 * a net.Server in front of the listener's own server (engine front, node:http, https, http2),
 * which then never listens. The header is read off the raw socket — before the TLS ClientHello
 * on TLS listeners — the client it names becomes the socket's peer, and the rest is replayed.
 */
export function createProxyFront (inner: net.Server, deps: ProxyFrontDeps): ProxyFront {
  // Until its handshake ends a TLS connection is known by the balancer's address and port (unique while open).
  const pending = new Map<string, Endpoint>()
  const keyOf = (s: Socket): string => `${s.remoteAddress ?? ''}|${s.remotePort ?? ''}`
  // Whatever goes wrong with one connection closes that connection, never the daemon.
  const server = net.createServer({ pauseOnConnect: true }, raw => { accept(raw).catch(() => raw.destroy()) })
  const accept = async (raw: Socket): Promise<void> => {
    const started = performance.now()
    let timedOut = false
    const deadline = setTimeout(() => { timedOut = true; raw.destroy() }, deps.timeoutMs)
    raw.on('error', () => raw.destroy())
    const r = await acceptProxyHeader(raw, deps.trusted())
    clearTimeout(deadline)
    if (!r.ok || raw.destroyed) {
      const error = timedOut ? 'handshake timeout' : r.ok ? 'client closed' : r.reason
      deps.refused({
        listener: deps.listener, client: plainAddress(raw.remoteAddress ?? ''), client_port: raw.remotePort ?? 0,
        sni: null, client_cert: null, route: null, upstream: null, bytes_in: 0, bytes_out: 0,
        duration_ms: Math.round(performance.now() - started), error
      })
      raw.destroy()
      return
    }
    if (r.source !== undefined) {
      if (deps.tls) {
        const key = keyOf(raw)
        pending.set(key, r.source)
        raw.once('close', () => pending.delete(key))
      }
      adoptPeer(raw, r.source)
    }
    if (r.rest.length > 0) raw.unshift(r.rest)
    inner.emit('connection', raw)
    // A tls.Server reads the replayed bytes and the handle itself; HTTP servers read the stream.
    if (!deps.tls && !raw.destroyed) raw.resume()
  }
  return {
    server,
    adoptTls: socket => {
      const key = keyOf(socket)
      const source = pending.get(key)
      if (source === undefined) return
      pending.delete(key)
      adoptPeer(socket, source)
    }
  }
}
