import net, { type Socket } from 'node:net'
import tls from 'node:tls'
import type { ListenerConfig } from '../config/index.js'
import type { Snapshot, TlsSelector } from '../snapshot/index.js'
import { serveTcp, type TcpAccessEntry } from './tcp-connection.js'

export interface TcpServerDeps {
  view: () => Snapshot
  access: (e: TcpAccessEntry) => void
}

export interface TcpServer {
  /** Bound by the caller; connections arrive paused (`pauseOnConnect`). */
  readonly server: net.Server
  /** Serves an accepted socket (after the caller's per-IP admission). */
  serve (socket: Socket): void
}

/**
 * A `protocol: tcp` listener. `clientCa`: PEM of `client_ca_file`, read when the listener is
 * bound (a changed path rebinds; a changed file needs a reload that changes the listener).
 */
export function createTcpServer (l: ListenerConfig, deps: TcpServerDeps, clientCa: string | undefined): TcpServer {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true })
  const tlsOptions = l.tls ? terminationOptions(l, deps.view, clientCa) : undefined
  return {
    server,
    serve: socket => { void serveTcp(l, { view: deps.view, access: deps.access, tlsOptions }, socket) }
  }
}

/**
 * Server-side TLS options for termination. Without client certificates, SNI picks the
 * certificate as on HTTPS listeners. With `client_ca_file` the listener serves the default
 * certificate with the CA in its context: OpenSSL verifies the client against the context that
 * is current at that point, and the shared per-name contexts do not carry the listener's CA.
 */
function terminationOptions (l: ListenerConfig, view: () => Snapshot, clientCa: string | undefined): () => tls.TLSSocketOptions {
  const contexts = new WeakMap<TlsSelector, tls.SecureContext>()
  return () => {
    const snap = view()
    const t = snap.tls
    if (t === undefined) throw new Error(`listener ${l.name}: tls enabled but no certificate is configured`)
    let secureContext = contexts.get(t)
    if (secureContext === undefined) {
      secureContext = tls.createSecureContext({ ...t.defaultCredentials, minVersion: snap.config.tls.min_version, ...(clientCa === undefined ? {} : { ca: clientCa }) })
      contexts.set(t, secureContext)
    }
    if (clientCa !== undefined) return { secureContext, requestCert: true, rejectUnauthorized: l.client_auth === 'required' }
    return {
      secureContext,
      SNICallback: (name: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => { cb(null, view().tls?.select(name)) }
    }
  }
}
