import net, { type Socket } from 'node:net'
import tls, { type TLSSocket } from 'node:tls'
import type { ListenerConfig } from '../config/index.js'
import type { Snapshot } from '../snapshot/index.js'
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
  /** After a snapshot swap: the default certificate of a terminating listener. */
  refresh (): void
}

/**
 * A `protocol: tcp` listener. The PEM of its `client_ca_file` comes with each snapshot (read by
 * the config's load): a reload with a changed file applies it to new handshakes, as on HTTPS
 * listeners (`refresh`).
 */
export function createTcpServer (l: ListenerConfig, deps: TcpServerDeps, next: Snapshot): TcpServer {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true })
  const terminator = l.tls ? new Terminator(l, deps.view, next) : undefined
  return {
    server,
    serve: socket => { void serveTcp(l, { view: deps.view, access: deps.access, handshake: terminator?.handshake }, socket) },
    refresh: () => terminator?.refresh()
  }
}

/**
 * TLS termination through a tls.Server that never listens: raw sockets are handed to it, so
 * Node's own server path runs the handshake, the handshake timeout and the client certificate
 * verification (which a bare TLSSocket does not do). Without client certificates SNI picks the
 * certificate as on HTTPS listeners; with `client_ca_file` the listener serves the default
 * certificate, whose context carries the CA (OpenSSL verifies against the context in use, and
 * the shared per-name contexts do not carry the listener's CA).
 */
class Terminator {
  readonly #tls: tls.Server
  readonly #pending = new Map<string, (r: TLSSocket | string) => void>()
  readonly #l: ListenerConfig
  readonly #view: () => Snapshot

  /** `next`: the snapshot being applied (the listener is bound before it becomes current). */
  constructor (l: ListenerConfig, view: () => Snapshot, next: Snapshot) {
    this.#l = l
    this.#view = view
    this.#tls = tls.createServer({
      ...this.#contextOptions(next),
      handshakeTimeout: l.handshake_timeout,
      ...(l.client_ca_file === undefined
        ? { SNICallback: (name: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => { cb(null, view().tls?.select(name)) } }
        : { requestCert: true, rejectUnauthorized: l.client_auth === 'required' })
    })
    this.#tls.on('secureConnection', (s: TLSSocket) => this.#settle(s, s))
    this.#tls.on('tlsClientError', (err: NodeJS.ErrnoException, s: TLSSocket) => this.#settle(s, `tls handshake: ${err.code ?? err.message}`))
  }

  #contextOptions (snap: Snapshot): tls.SecureContextOptions {
    if (snap.tls === undefined) throw new Error(`listener ${this.#l.name}: tls enabled but no certificate is configured`)
    const file = this.#l.client_ca_file
    // A listener with client_ca_file and no CA in the snapshot (being retired) verifies nothing: it fails closed.
    const ca = file === undefined ? undefined : snap.clientCas?.get(file)
    return { ...snap.tls.defaultCredentials, minVersion: snap.config.tls.min_version, ...(ca === undefined ? {} : { ca }) }
  }

  refresh (): void { this.#tls.setSecureContext(this.#contextOptions(this.#view())) }

  /** Connections are told apart by the client's address and port (unique while open on one listener). */
  #settle (s: TLSSocket, r: TLSSocket | string): void {
    const key = `${s.remoteAddress ?? ''}|${s.remotePort ?? ''}`
    const resolve = this.#pending.get(key)
    this.#pending.delete(key)
    resolve?.(r)
  }

  readonly handshake = async (raw: Socket): Promise<TLSSocket | string> => {
    const key = `${raw.remoteAddress ?? ''}|${raw.remotePort ?? ''}`
    return await new Promise(resolve => {
      this.#pending.set(key, resolve)
      raw.once('close', () => { if (this.#pending.get(key) === resolve) this.#settle(raw as TLSSocket, 'tls handshake: client closed') })
      this.#tls.emit('connection', raw)
    })
  }
}
