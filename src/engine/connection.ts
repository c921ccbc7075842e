import type { Socket } from 'node:net'
import {
  clientIp, decide, errorPage, normalizeHost, forwardFacts, nextRequestId, upstreamServerName, requestTarget, upstreamRequestHeaders,
  type AccessEntry, type Decision, type ListenerInfo, type RouterDeps
} from '../router/index.js'
import { RequestFramer, Step } from './request-framer.js'
import type { RequestHeadParser } from './request-head.js'
import type { Framing, ResponseHeadParser } from './response-head.js'
import { clientHead, fieldValue } from './client-head.js'
import { UpstreamExchange, type ExchangeClient } from './exchange.js'
import { upgrade } from './upgrade.js'
import { originHost, type OriginSpec, type UpstreamPools } from './upstream-pool.js'

export interface EngineLimits {
  maxHeaderSize: number
  maxHeaders: number
  headerTimeoutMs: number
  keepaliveTimeoutMs: number
  /** The whole request, body included, from its first byte (limits.request_timeout, as node:http's requestTimeout); 0: none. */
  requestTimeoutMs: number
}

/** What a connection needs from the listener that accepted it. */
export interface EngineDeps {
  router: RouterDeps
  listener: ListenerInfo
  limits: () => EngineLimits
  pools: UpstreamPools
  /** Hands the socket, with bytes already read pushed back, to the node:http server (the same handler as before). */
  fallback: (socket: Socket) => void
  /** The socket left the engine (it became a tunnel). */
  detach: (socket: Socket) => void
  /** In-flight requests (+1/-1), for the drain on shutdown and /readyz. */
  inflight: (delta: number) => void
}

const ACME_PREFIX = '/.well-known/acme-challenge/'
const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large', 501: 'Not Implemented', 505: 'HTTP Version Not Supported' }

/**
 * One client connection served by the engine: reads requests with the strict framer, asks the
 * router's `decide()` what to do, forwards proxied requests itself and answers them in order.
 * A request the engine does not handle itself (anything but a plain proxy decision: CORS,
 * response edits, redirects, fixed answers, ACME, HTTP/1.0 ...) hands the whole
 * connection, from that request on, to the node:http server with the unchanged handler.
 */
export class ClientConnection implements ExchangeClient {
  readonly socket: Socket
  expectContinue = false
  readonly #deps: EngineDeps
  readonly #framer: RequestFramer
  /** Raw bytes of a head that arrived in pieces (kept for a handover to node:http). */
  #headChunks: Buffer[] = []
  /** Bytes read past the current message while its response is pending (pipelining). */
  #rest: Buffer | undefined
  #exchange: UpstreamExchange | undefined
  #entry: AccessEntry | undefined
  #started = 0
  #keepAlive = true
  #inBody = false
  #headStartedAt = 0
  #hsts: string | undefined
  /** UAP cookie scoping: the request's host, or undefined when the route does not scope. */
  #cookieHost: string | undefined
  /** The request's Accept field: error pages answer JSON to API clients, as on the node path. */
  #accept: string | undefined
  #closed = false
  /** The request body's deadline (armed only while a body is still arriving). */
  #bodyTimer: NodeJS.Timeout | undefined

  constructor (socket: Socket, deps: EngineDeps) {
    this.socket = socket
    this.#deps = deps
    const l = deps.limits()
    this.#framer = new RequestFramer({ maxHeaderSize: l.maxHeaderSize, maxHeaders: l.maxHeaders })
    socket.setNoDelay(true)
    socket.on('data', this.#onData)
    socket.on('error', this.#onError)
    socket.on('close', this.#onClose)
    // One listener for the connection's life; later calls only change the duration (each
    // setTimeout with a callback would add another listener).
    socket.on('timeout', this.#onTimeout)
    socket.setTimeout(l.keepaliveTimeoutMs)
  }

  /** Between requests with nothing pending: safe to close (shutdown, reload drain). */
  get idle (): boolean { return this.#exchange === undefined && this.#framer.idle && this.#rest === undefined }

  readonly #onError = (): void => { this.socket.destroy() }

  readonly #onClose = (): void => {
    this.#closed = true
    this.#clearBodyTimer()
    if (this.#exchange !== undefined) {
      this.#exchange.abort()
      this.#log(499, 0, undefined, 'client closed the connection')
      this.#exchange = undefined
    }
  }

  readonly #onTimeout = (): void => {
    if (this.#exchange !== undefined) return // the exchange's own timers govern
    if (this.#framer.idle) { this.socket.destroy(); return }
    this.#refuse(408)
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#exchange !== undefined && !this.#inBody) {
      // Pipelined: the next request waits until this response is out.
      this.#rest = this.#rest === undefined ? chunk : Buffer.concat([this.#rest, chunk])
      this.socket.pause()
      return
    }
    this.#feed(chunk)
  }

  #feed (buf: Buffer): void {
    const f = this.#framer
    let pos = 0
    while (pos < buf.length && !this.#closed) {
      const start = pos
      if (!this.#inBody && f.idle) this.#headStartedAt = performance.now()
      pos = f.next(buf, pos, buf.length)
      switch (f.step) {
        case Step.More:
          if (!this.#inBody) {
            this.#headChunks.push(start === 0 ? buf : buf.subarray(start))
            const l = this.#deps.limits()
            // An absolute deadline from the head's first byte: a trickle of bytes never resets it.
            if (l.headerTimeoutMs > 0 && performance.now() - this.#headStartedAt > l.headerTimeoutMs) { this.#refuse(408); return }
            this.socket.setTimeout(l.headerTimeoutMs > 0 ? l.headerTimeoutMs : l.keepaliveTimeoutMs)
          }
          break
        case Step.Error:
          this.#refuse(f.status)
          return
        case Step.Head: {
          const chunks = this.#headChunks
          this.#headChunks = []
          if (f.head.upgrade && this.#openUpgrade(f.head, buf.subarray(pos))) return
          if (f.head.upgrade || !this.#open(f.head)) {
            chunks.push(buf.subarray(start))
            this.#handOver(chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks))
            return
          }
          this.#inBody = !f.messageDone
          if (this.#inBody) this.#armBodyTimer()
          break
        }
        case Step.Body:
          this.#countIn(f.spanEnd - f.spanStart)
          if (this.#exchange !== undefined && !this.#exchange.body(buf, f.spanStart, f.spanEnd)) this.socket.pause()
          break
      }
      if (f.messageDone) {
        this.#inBody = false
        this.#clearBodyTimer()
        this.#exchange?.bodyEnd()
        if (pos < buf.length) {
          this.#rest = buf.subarray(pos)
          this.socket.pause()
          return
        }
      }
    }
  }

  /**
   * A body that trickles: the request must be whole within request_timeout of its first byte,
   * as node:http enforces it. 408 when no response byte went out yet, else the connection is cut.
   */
  #armBodyTimer (): void {
    const limit = this.#deps.limits().requestTimeoutMs
    if (limit <= 0 || this.#exchange === undefined) return
    const left = Math.max(0, this.#headStartedAt + limit - performance.now())
    this.#bodyTimer = setTimeout(this.#bodyTimeout, left)
  }

  #clearBodyTimer (): void {
    if (this.#bodyTimer === undefined) return
    clearTimeout(this.#bodyTimer)
    this.#bodyTimer = undefined
  }

  readonly #bodyTimeout = (): void => {
    this.#bodyTimer = undefined
    const ex = this.#exchange
    if (ex === undefined || !this.#inBody || this.#closed) return
    ex.abort()
    this.#exchange = undefined
    this.#log(408, 0, undefined, 'request body not received within request_timeout')
    if (ex.responseStarted) this.socket.destroy()
    else this.#refuse(408)
  }

  /** Chunked bodies count their wire bytes (Content-Length ones were counted from the head). */
  #countIn (n: number): void {
    if (this.#entry !== undefined && this.#framer.head.chunked) this.#entry.bytesIn += n
  }

  /**
   * The one request-opening step of normal and upgrade requests (target, ACME and SNI checks,
   * decision, request id, forwarding headers), so the two cannot drift; undefined when the
   * request is not the engine's to serve.
   */
  #opening (h: RequestHeadParser): Opening | undefined {
    if (h.minor !== 1) return undefined
    const { router, listener } = this.#deps
    const view = router.view()
    const target = requestTarget(h.target, h.host)
    if (target === undefined) return undefined
    const { host, url } = target
    if ((view.acmeHttp !== undefined && url.startsWith(ACME_PREFIX)) || (listener.tls && view.strictSniHost)) return undefined
    const d = decide(view.routes, { host, url, listener: listener.name, tls: listener.tls }, view.names)
    if (!engineServes(d, h)) return undefined
    const p = d as ProxyDecision
    const origins = p.alternatives ?? (p.pool === undefined ? [p.target] : p.pool.candidates())
    const rid = nextRequestId()
    const facts = forwardFacts(clientIp(this.socket), listener.tls ? 'https' : 'http', host, rid, view.trustedProxies, view.via)
    const forcedHost = host !== h.host ? host : undefined
    const hostOverride = p.upstream.preserveHost ? forcedHost : originHost(origins[0] as string)
    const headers = upstreamRequestHeaders(h.headers, facts, hostOverride)
    let head = `${h.method} ${url} HTTP/1.1\r\n`
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i] as string}: ${headers[i + 1] as string}\r\n`
    const entry: AccessEntry = {
      rid, method: h.method, host, path: url, status: 0, bytes: 0, bytesIn: h.chunked ? 0 : Math.max(0, h.contentLength), ms: 0,
      route: p.route.name, upstream: undefined, action: h.upgrade ? `${p.action}:upgrade` : p.action, listener: listener.name
    }
    return { d: p, origins, head, entry }
  }

  /** Starts forwarding a request; false when it is not the engine's to serve. */
  #open (h: RequestHeadParser): boolean {
    const o = this.#opening(h)
    if (o === undefined) return false
    const { d, origins } = o
    const up = d.upstream
    this.#started = performance.now()
    this.#keepAlive = h.keepAlive
    this.expectContinue = h.expectContinue
    this.#hsts = this.#deps.listener.tls ? d.route.hsts : undefined
    this.#cookieHost = d.route.action.kind === 'uap' && d.route.action.cookieScoping ? normalizeHost(o.entry.host) : undefined
    this.#accept = fieldValue(h.headers, 'accept')
    this.#entry = o.entry
    this.#deps.inflight(1)
    const specs = new Map<string, OriginSpec>()
    const ex = this.#exchange = new UpstreamExchange(this, {
      origins,
      spec: origin => {
        let s = specs.get(origin)
        if (s === undefined) specs.set(origin, s = originSpec(origin, up))
        return s
      },
      headersTimeoutMs: up.headersTimeoutMs,
      idleTimeoutMs: up.idleTimeoutMs,
      method: h.method,
      head: o.head + (h.chunked ? 'transfer-encoding: chunked\r\n\r\n' : '\r\n'),
      bodiless: !h.chunked && h.contentLength <= 0,
      retries: up.retries,
      onUpstreamDown: d.pool === undefined ? undefined : origin => d.pool?.markDown(origin)
    }, this.#deps.pools)
    ex.onDrain = this.#resume
    this.socket.setTimeout(0)
    ex.start()
    return true
  }

  /**
   * An upgrade (websocket): its own upstream connection, then a spliced pair of sockets. The
   * connection leaves the engine here (listeners removed, forgotten by the listener), so an open
   * tunnel keeps nothing of this object, the request or the snapshot.
   */
  #openUpgrade (h: RequestHeadParser, early: Buffer): boolean {
    const o = this.#opening(h)
    if (o === undefined) return false
    const { d, entry } = o
    const protocol = fieldValue(h.headers, 'upgrade') ?? 'websocket'
    this.#detach()
    this.#deps.detach(this.socket)
    const origin = o.origins[0] as string
    const started = performance.now()
    const access = this.#deps.router.access
    upgrade({
      client: this.socket,
      spec: originSpec(origin, d.upstream),
      head: `${o.head}connection: upgrade\r\nupgrade: ${protocol}\r\n\r\n`,
      early: early.length > 0 ? early : undefined,
      headersTimeoutMs: d.upstream.headersTimeoutMs,
      idleTimeoutMs: d.upstream.websocketIdleTimeoutMs,
      rid: entry.rid,
      tunnels: this.#deps.router.tunnels,
      pools: this.#deps.pools,
      done: (status, error) => {
        entry.status = status
        entry.upstream = origin
        entry.ms = Math.round(performance.now() - started)
        if (error !== undefined) entry.error = error
        access(entry)
      }
    })
    return true
  }

  readonly #resume = (): void => { if (!this.#closed) this.socket.resume() }

  renderHead (p: ResponseHeadParser, framing: Framing): string {
    return clientHead(p, framing, { hsts: this.#hsts, cookieHost: this.#cookieHost, close: !this.#keepAlive })
  }

  fail (status: 502 | 504, reason: string, origin: string): void {
    const e = this.#entry
    const page = errorPage(status, reason, e?.rid ?? '', this.#accept)
    // The request body may not have been read to its end: the connection cannot go on then.
    if (this.#inBody) this.#keepAlive = false
    this.socket.write(`HTTP/1.1 ${status} ${page.title}\r\ncontent-type: ${page.type}\r\ncontent-length: ${Buffer.byteLength(page.body)}\r\n` +
      `cache-control: no-store\r\nx-request-id: ${e?.rid ?? ''}\r\n${this.#hsts === undefined ? '' : `strict-transport-security: ${this.#hsts}\r\n`}` +
      `${this.#keepAlive ? '' : 'connection: close\r\n'}\r\n${page.body}`)
    this.#log(status, 0, origin, reason)
    this.#next(false)
  }

  done (status: number, bytes: number, origin: string, closeClient: boolean): void {
    this.#log(status, bytes, origin)
    this.#next(closeClient)
  }

  aborted (status: number, bytes: number, origin: string, reason: string): void {
    this.#log(status, bytes, origin, reason)
    this.#exchange = undefined
    this.socket.destroy()
  }

  #log (status: number, bytes: number, upstream: string | undefined, error?: string): void {
    const e = this.#entry
    if (e === undefined) return
    this.#entry = undefined
    e.status = status
    e.bytes = bytes
    e.upstream = upstream
    e.ms = Math.round((performance.now() - this.#started) * 1000) / 1000
    if (error !== undefined) e.error = error
    this.#deps.inflight(-1)
    this.#deps.router.access(e)
  }

  /** After a response: close, or go on with pipelined bytes, or wait for the next request. */
  #next (close: boolean): void {
    this.#exchange = undefined
    if (close || !this.#keepAlive || this.#inBody) { this.socket.end(); return }
    this.socket.setTimeout(this.#deps.limits().keepaliveTimeoutMs)
    const rest = this.#rest
    this.#rest = undefined
    if (rest !== undefined) this.#feed(rest)
    if (this.#exchange === undefined || this.#inBody) this.socket.resume()
  }

  /** A refused or timed-out head: answered like node:http's clientError answer, then closed. */
  #refuse (status: number): void {
    const text = STATUS_TEXT[status] ?? 'Bad Request'
    this.socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`)
    this.#closed = true
  }

  /** The engine lets go of the socket: no listener of this connection stays on it. */
  #detach (): void {
    const s = this.socket
    s.removeListener('data', this.#onData)
    s.removeListener('error', this.#onError)
    s.removeListener('close', this.#onClose)
    s.removeListener('timeout', this.#onTimeout)
    s.setTimeout(0)
    s.pause()
    this.#closed = true
  }

  #handOver (bytes: Buffer): void {
    const s = this.socket
    this.#detach()
    // node:http would read the socket's handle directly and never see the pushed-back bytes.
    const handle = (s as Socket & { _handle?: { _consumed?: boolean } })._handle
    if (handle !== undefined && handle !== null) handle._consumed = true
    s.unshift(bytes)
    this.#deps.fallback(s)
    s.resume()
  }
}

type ProxyDecision = Extract<Decision, { action: 'proxy' }>

/** What opening a request yields: the decision, the origins to try, the upstream head so far (no framing, no final CRLF). */
interface Opening { d: ProxyDecision, origins: readonly string[], head: string, entry: AccessEntry }

function originSpec (origin: string, up: ProxyDecision['upstream']): OriginSpec {
  return { origin, serverName: upstreamServerName(up.serverName, origin), tlsVerify: up.tlsVerify, connectTimeoutMs: up.connectTimeoutMs }
}

/**
 * A plain proxy decision with nothing the engine leaves to the node:http path. Upgrades: the
 * node path applies no response edits to a 101 either, so only the CA file matters there.
 */
function engineServes (d: Decision, h: RequestHeadParser): boolean {
  if (d.action !== 'proxy') return false
  if (h.upgrade) return d.upstream.caFile === undefined
  const r = d.route
  if (r.cors !== undefined || r.responseHeaders !== undefined) return false
  const up = d.upstream
  if (up.caFile !== undefined) return false
  return up.maxBodySize === null || (!h.chunked && h.contentLength <= up.maxBodySize)
}

