import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'
import http2 from 'node:http2'
import net, { type Server as NetServer, type Socket } from 'node:net'
import tls, { type TLSSocket } from 'node:tls'
import type { ListenerConfig } from '../config/index.js'
import { createRequestHandler, createUpgradeHandler, h2StreamOf, noteClientCert, type RouterDeps } from '../router/index.js'
import type { Snapshot, SnapshotStore } from '../snapshot/index.js'
import { parseListenAddress } from '../util/address.js'
import { started } from '../util/started.js'
import type { Logger } from '../log/logger.js'
import { applyLimits, clientErrorResponse, httpServerOptions, PerIpConnections, tooManyHeaders } from './client-limits.js'
import { EngineListener, UpstreamPools, type ConnectHook } from '../engine/index.js'
import { KEEP_ALIVE_MS, MAX_CONNECTIONS_PER_ORIGIN } from '../router/dispatchers.js'
import { createProxyFront, createTcpServer, type ProxyFront, type TcpAccessEntry, type TcpServer } from '../stream/index.js'

/** One bound listener; its key changes whenever anything that needs a rebind changes. */
interface Running {
  key: string
  config: ListenerConfig
  /** The bound server (with `engine: portico`, a net/tls server in front of `http`). */
  server: NetServer
  /** The node:http (or http2) server running the request handler; `server` itself without the engine. */
  http: NetServer
  engine: EngineListener | undefined
  sockets: Set<Socket>
  sessions: Set<http2.ServerHttp2Session>
  /** `protocol: tcp` listeners only. */
  tcp?: TcpServer
  /** The TLS server of an HTTPS listener (behind `server` when that reads PROXY headers first). */
  secure?: tls.Server | undefined
}

/** TCP listeners ignore the HTTP keys, so changing those never cuts their open connections. */
const keyOf = (l: ListenerConfig, maxHeaderSize: number): string => JSON.stringify(l.protocol === 'tcp'
  ? [l.name, l.address, l.tls, l.protocol, l.tls_passthrough, l.handshake_timeout, l.accept_proxy_protocol, l.client_ca_file, l.client_auth]
  : [l.name, l.address, l.tls, l.http2, l.engine, maxHeaderSize, l.accept_proxy_protocol, l.handshake_timeout, l.client_ca_file,
      l.client_auth])

/**
 * The set of bound listeners. `apply` binds what is new first and only then closes what went
 * away, so a reload never drops an unaffected listener, and a bind failure leaves the old set
 * serving (all or nothing).
 */
export class ListenerSet {
  #running = new Map<string, Running>()
  #inflight = 0
  readonly #perIp = new PerIpConnections()
  readonly #store: SnapshotStore
  readonly #router: RouterDeps
  readonly #log: Logger
  readonly #reusePort: boolean
  /** Upstream keep-alive connections of the engine, shared by its listeners and kept across reloads. */
  readonly #pools: UpstreamPools

  /**
   * `reusePort`: with workers, each process binds its own SO_REUSEPORT socket (`exclusive`, so
   * node:cluster does not route accepts through the primary) and the kernel spreads connections.
   * `onConnecting` sees every upstream socket the engine opens (the Docker registry's cut).
   */
  readonly #tcpAccess: (e: TcpAccessEntry) => void

  constructor (
    store: SnapshotStore, router: RouterDeps, log: Logger, reusePort = false, onConnecting?: ConnectHook, tcpAccess: (e: TcpAccessEntry) => void = () => {}
  ) {
    this.#tcpAccess = tcpAccess
    // Idle upstream connections close as on the node path: before the 5 s of common upstreams.
    this.#pools = new UpstreamPools({ maxPerOrigin: MAX_CONNECTIONS_PER_ORIGIN, idleTimeoutMs: KEEP_ALIVE_MS, onConnecting })
    this.#store = store
    this.#router = router
    this.#log = log
    this.#reusePort = reusePort
  }

  get inflight (): number { return this.#inflight }

  connections (): number {
    let n = 0
    for (const r of this.#running.values()) n += r.sockets.size
    return n
  }

  /** The bound port of the first TLS listener (for https redirects when it is configured as port 0). */
  boundTlsPort (): number | undefined {
    for (const r of this.#running.values()) {
      const a = r.server.address()
      if (r.config.tls && r.config.protocol !== 'tcp' && typeof a === 'object' && a !== null) return a.port
    }
    return undefined
  }

  addresses (): Array<{ name: string, address: string, port: number }> {
    return [...this.#running.values()].map(r => {
      const a = r.server.address()
      return { name: r.config.name, address: typeof a === 'object' && a !== null ? a.address : '', port: typeof a === 'object' && a !== null ? a.port : 0 }
    })
  }

  /**
   * Binds the listeners that are new; `close` then retires the ones that went away (after the
   * snapshot swap), `abort` unbinds the new ones again (a reload another worker refused).
   */
  async apply (wanted: readonly ListenerConfig[], next: Snapshot): Promise<{ close: () => Promise<void>, abort: () => Promise<void> }> {
    const headerSize = next.config.limits.max_header_size
    const wantedKeys = new Set(wanted.map(l => keyOf(l, headerSize)))
    const removed = [...this.#running.values()].filter(r => !wantedKeys.has(r.key))
    const added = wanted.filter(l => !this.#running.has(keyOf(l, headerSize)))
    // A listener that changes in place (e.g. tls toggled) must release its port first.
    const addresses = new Set(added.map(l => l.address))
    const sameAddress = removed.filter(r => addresses.has(r.config.address))
    await Promise.all(sameAddress.map(async r => await this.#close(r, 0)))
    const bound: Running[] = []
    try {
      for (const l of added) bound.push(await this.#bind(l, next))
    } catch (err) {
      await Promise.all(bound.map(async r => await this.#close(r, 0)))
      throw err
    }
    for (const r of bound) this.#running.set(r.key, r)
    return {
      close: async () => {
        await Promise.all(removed.filter(r => !sameAddress.includes(r)).map(async r => await this.#close(r, 5000)))
      },
      abort: async () => { await Promise.all(bound.map(async r => await this.#close(r, 0))) }
    }
  }

  /** Stops accepting everywhere, lets in-flight requests finish up to `drainMs`, then cuts. */
  async closeAll (drainMs: number): Promise<void> {
    await Promise.all([...this.#running.values()].map(async r => await this.#close(r, drainMs)))
    this.#pools.closeIdle()
  }

  /** After a snapshot swap: the default certificate (clients without SNI) and client limits. */
  refresh (): void {
    const { tls, config } = this.#store.current
    for (const r of this.#running.values()) {
      if (r.config.protocol === 'tcp') {
        r.server.maxConnections = r.config.max_connections ?? config.limits.max_connections ?? Number.POSITIVE_INFINITY
        r.tcp?.refresh()
        continue
      }
      applyLimits(r.http as http.Server, config.limits)
      // Connections are accepted by the server in front of the engine.
      if (r.server !== r.http) r.server.maxConnections = (r.http as http.Server).maxConnections
      if (r.secure === undefined || tls === undefined) continue
      r.secure.setSecureContext({ ...tls.defaultCredentials, minVersion: config.tls.min_version, ...this.#clientCa(r.config) })
    }
  }

  async #bind (l: ListenerConfig, next: Snapshot): Promise<Running> {
    const hp = parseListenAddress(l.address)
    if (hp === undefined) throw new Error(`listener ${l.name}: bad address ${l.address}`)
    if (l.protocol === 'tcp') return await this.#bindTcp(l, next, hp)
    const info = { name: l.name, tls: l.tls }
    const onRequest = createRequestHandler(this.#router, info)
    const tracked = (req: IncomingMessage, res: ServerResponse): void => {
      if (tooManyHeaders(req.rawHeaders, this.#store.current.config.limits)) {
        res.writeHead(431, { 'content-length': 0, connection: 'close' }).end()
        return
      }
      // Node's HTTP/1 parser accepts any single-digit version ("HTTP/2.0" on a plain socket).
      if (req.httpVersionMajor !== 1 && h2StreamOf(req) === undefined) {
        res.writeHead(505, { 'content-length': 0, connection: 'close' }).end()
        return
      }
      this.#inflight++
      res.once('close', () => { this.#inflight-- })
      onRequest(req, res)
    }
    const httpServer = this.#createServer(l, next, tracked)
    applyLimits(httpServer as http.Server, next.config.limits)
    httpServer.on('upgrade', createUpgradeHandler(this.#router, info))
    const engine = l.engine === 'portico' ? this.#engine(l, httpServer) : undefined
    const inner = engine === undefined ? httpServer : this.#front(l, next, httpServer, engine)
    const secure = l.tls ? inner as tls.Server : undefined
    if (secure !== undefined && l.client_ca_file !== undefined) secure.prependListener('secureConnection', noteClientCert)
    const proxied = l.accept_proxy_protocol ? this.#proxyFront(l, inner, next) : undefined
    if (secure !== undefined && proxied !== undefined) secure.prependListener('secureConnection', proxied.adoptTls)
    const server = proxied?.server ?? inner
    // A node:http server that never listens starts its timeout sweep on 'listening' (as behind the engine).
    if (proxied !== undefined && engine === undefined && (!l.tls || !l.http2)) httpServer.emit('listening')
    server.maxConnections = httpServer.maxConnections
    const key = keyOf(l, next.config.limits.max_header_size)
    const running: Running = { key, config: l, server, http: httpServer, engine, sockets: new Set(), sessions: new Set(), secure }
    // Behind a PROXY header the client is known only once it was read: admitted (per-IP limit) then.
    inner.on('connection', (s: Socket) => {
      if (!this.#perIp.admit(s, this.#store.loaded ? this.#store.current.config.limits.max_connections_per_ip : null)) return
      running.sockets.add(s)
      s.once('close', () => running.sockets.delete(s))
    })
    httpServer.on('session', (s: http2.ServerHttp2Session) => { running.sessions.add(s); s.once('close', () => running.sessions.delete(s)) })
    httpServer.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (socket.writable) socket.end(clientErrorResponse(err))
      else socket.destroy()
    })
    await started(server, done => server.listen({ host: hp.host, port: hp.port, ipv6Only: hp.host.includes(':'), ...(this.#reusePort ? { reusePort: true, exclusive: true } : {}) }, done))
    server.on('error', err => this.#log.error({ err, listener: l.name }, 'listener error'))
    this.#log.info({ listener: l.name, address: l.address, tls: l.tls, http2: l.tls && l.http2 }, 'listening')
    return running
  }

  /** A `protocol: tcp` listener: raw TCP, TLS passthrough by SNI or TLS termination (src/stream). */
  async #bindTcp (l: ListenerConfig, next: Snapshot, hp: { host: string, port: number }): Promise<Running> {
    if (l.tls && next.tls === undefined) throw new Error(`listener ${l.name}: tls enabled but no certificate is configured`)
    const store = this.#store
    const tcp = createTcpServer(l, { view: () => store.current, access: this.#tcpAccess }, next)
    const server = tcp.server
    server.maxConnections = l.max_connections ?? next.config.limits.max_connections ?? Number.POSITIVE_INFINITY
    const running: Running = { key: keyOf(l, next.config.limits.max_header_size), config: l, server, http: server, engine: undefined, sockets: new Set(), sessions: new Set(), tcp }
    server.on('connection', (s: Socket) => {
      if (!this.#perIp.admit(s, store.loaded ? store.current.config.limits.max_connections_per_ip : null)) return
      running.sockets.add(s)
      s.once('close', () => running.sockets.delete(s))
      tcp.serve(s)
    })
    await started(server, done => server.listen({ host: hp.host, port: hp.port, ipv6Only: hp.host.includes(':'), ...(this.#reusePort ? { reusePort: true, exclusive: true } : {}) }, done))
    server.on('error', err => this.#log.error({ err, listener: l.name }, 'listener error'))
    this.#log.info({ listener: l.name, address: l.address, protocol: 'tcp', tls: l.tls, tls_passthrough: l.tls_passthrough }, 'listening')
    return running
  }

  /**
   * `engine: portico` (the default): the engine serves every HTTP/1.1 request; h2 sessions (TLS
   * listeners with ALPN h2) go to the http2 server, which then never listens itself. Its session
   * sweep runs only after 'listening'.
   */
  #engine (l: ListenerConfig, httpServer: NetServer): EngineListener {
    if (!l.tls || !l.http2) httpServer.emit('listening')
    const store = this.#store
    return new EngineListener({
      router: this.#router,
      listener: { name: l.name, tls: l.tls },
      limits: () => {
        const x = store.current.config.limits
        return {
          maxHeaderSize: x.max_header_size,
          maxHeaders: x.max_headers,
          headerTimeoutMs: x.header_timeout,
          keepaliveTimeoutMs: x.keepalive_timeout,
          requestTimeoutMs: x.request_timeout
        }
      },
      pools: this.#pools,
      inflight: delta => { this.#inflight += delta }
    })
  }

  /** The listening server in front of the engine: plain TCP, or TLS with ALPN (h2 sessions go to the http2 server). */
  #front (l: ListenerConfig, snap: Snapshot, httpServer: NetServer, engine: EngineListener): NetServer {
    if (!l.tls) return net.createServer(socket => engine.serve(socket))
    const server = tls.createServer({ ...this.#tlsOptions(l, snap), ALPNProtocols: l.http2 ? ['h2', 'http/1.1'] : ['http/1.1'] })
    server.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol === 'h2') httpServer.emit('secureConnection', socket)
      else engine.serve(socket)
    })
    return server
  }

  #tlsOptions (l: ListenerConfig, snap: Snapshot): tls.TlsOptions {
    if (snap.tls === undefined) throw new Error(`listener ${l.name}: tls enabled but no certificate is configured`)
    const store = this.#store
    const mtls = l.client_ca_file === undefined ? {} : { requestCert: true, rejectUnauthorized: l.client_auth === 'required' }
    return {
      ...snap.tls.defaultCredentials,
      minVersion: snap.config.tls.min_version,
      ...mtls,
      ...this.#clientCa(l, snap),
      // Read the current snapshot per handshake, so certificate (and client CA) swaps need no rebind.
      SNICallback: (name: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => {
        const t = store.current.tls
        const ca = this.#clientCa(l, store.current, snap).ca
        if (t === undefined) cb(new Error('no TLS configuration'))
        else cb(null, ca === undefined ? t.select(name) : t.withClientCa?.(ca).select(name))
      }
    }
  }

  /**
   * The client CA of a listener with `client_ca_file`, from the snapshot (a reload re-reads the
   * file); `bound`: the snapshot the listener was bound with, for the moment before it is current.
   */
  #clientCa (l: ListenerConfig, snap: Snapshot = this.#store.current, bound?: Snapshot): { ca?: string } {
    if (l.client_ca_file === undefined) return {}
    const ca = snap.clientCas?.get(l.client_ca_file) ?? bound?.clientCas?.get(l.client_ca_file)
    // Without one (a listener being retired) nothing verifies: it fails closed.
    return ca === undefined ? {} : { ca }
  }

  /** `accept_proxy_protocol`: a net.Server reads the PROXY header, then hands the socket to `inner`. */
  #proxyFront (l: ListenerConfig, inner: NetServer, next: Snapshot): ProxyFront {
    return createProxyFront(inner, {
      listener: l.name,
      // The first snapshot becomes current only after its listeners are bound.
      trusted: () => (this.#store.loaded ? this.#store.current : next).trustedProxies,
      timeoutMs: l.handshake_timeout,
      refused: this.#tcpAccess,
      tls: l.tls
    })
  }

  #createServer (l: ListenerConfig, snap: Snapshot, onRequest: (req: IncomingMessage, res: ServerResponse) => void): NetServer {
    const common = httpServerOptions(snap.config.limits)
    if (!l.tls) return answeringHalfClosed(http.createServer(common, onRequest))
    const tlsOptions = this.#tlsOptions(l, snap)
    if (!l.http2) return answeringHalfClosed(https.createServer({ ...common, ...tlsOptions }, onRequest))
    const limits = snap.config.limits
    return http2.createSecureServer({
      ...tlsOptions,
      allowHTTP1: true,
      maxHeaderListPairs: limits.max_headers,
      settings: { maxConcurrentStreams: 256, maxHeaderListSize: limits.max_header_size }
    }, onRequest as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void)
  }

  async #close (r: Running, drainMs: number): Promise<void> {
    this.#running.delete(r.key)
    const closed = new Promise<void>(resolve => r.server.close(() => resolve()))
    // The node:http server behind the engine never listened: close() only stops its sweep.
    if (r.http !== r.server) r.http.close(() => {})
    const h1 = r.http as http.Server
    const closeIdle = (): void => {
      if (typeof h1.closeIdleConnections === 'function') h1.closeIdleConnections()
      r.engine?.closeIdle()
    }
    closeIdle()
    for (const s of r.sessions) s.close()
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<void>(resolve => { timer = setTimeout(resolve, drainMs) })
    // Idle keep-alive sockets that become idle during the drain are closed as they free up.
    const sweep = setInterval(closeIdle, 100)
    await Promise.race([closed, deadline])
    clearTimeout(timer)
    clearInterval(sweep)
    for (const s of r.sockets) s.destroy()
    for (const s of r.sessions) s.destroy()
    this.#log.info({ listener: r.config.name }, 'listener closed')
  }
}

/**
 * node:http aborts every request still being answered when the client half-closes (`printf … |
 * nc -N`); with `httpAllowHalfOpen` it answers them and ends after the last, as the engine and
 * nginx do.
 */
function answeringHalfClosed<S extends http.Server> (server: S): S {
  ;(server as S & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true
  return server
}
