import type { Socket } from 'node:net'
import {
  clientIp, connectionTokens, decide, errorPage, forwardFacts, HOP_BY_HOP, nextRequestId, originServerName, requestTarget, upstreamRequestHeaders,
  type AccessEntry, type Decision, type ListenerInfo, type RouterDeps
} from '../router/index.js'
import { RequestFramer, Step } from './request-framer.js'
import type { RequestHeadParser } from './request-head.js'
import { Framing, type ResponseHeadParser } from './response-head.js'
import { UpstreamExchange, type ExchangeClient } from './exchange.js'
import type { OriginSpec, UpstreamPools } from './upstream-pool.js'

export interface EngineLimits {
  maxHeaderSize: number
  maxHeaders: number
  headerTimeoutMs: number
  keepaliveTimeoutMs: number
}

/** What a connection needs from the listener that accepted it. */
export interface EngineDeps {
  router: RouterDeps
  listener: ListenerInfo
  limits: () => EngineLimits
  pools: UpstreamPools
  /** Hands the socket, with bytes already read pushed back, to the node:http server (the same handler as before). */
  fallback: (socket: Socket) => void
  /** In-flight requests (+1/-1), for the drain on shutdown and /readyz. */
  inflight: (delta: number) => void
}

const ACME_PREFIX = '/.well-known/acme-challenge/'
const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large', 501: 'Not Implemented', 505: 'HTTP Version Not Supported' }

/**
 * One client connection served by the engine: reads requests with the strict framer, asks the
 * router's `decide()` what to do, forwards proxied requests itself and answers them in order.
 * A request the engine does not handle itself (anything but a plain proxy decision: CORS,
 * response edits, cookie scoping, redirects, ACME, upgrades, HTTP/1.0 ...) hands the whole
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
  #closed = false

  constructor (socket: Socket, deps: EngineDeps) {
    this.socket = socket
    this.#deps = deps
    const l = deps.limits()
    this.#framer = new RequestFramer({ maxHeaderSize: l.maxHeaderSize, maxHeaders: l.maxHeaders })
    socket.setNoDelay(true)
    socket.on('data', this.#onData)
    socket.on('error', this.#onError)
    socket.on('close', this.#onClose)
    socket.setTimeout(l.keepaliveTimeoutMs, this.#onTimeout)
  }

  /** Between requests with nothing pending: safe to close (shutdown, reload drain). */
  get idle (): boolean { return this.#exchange === undefined && this.#framer.idle && this.#rest === undefined }

  readonly #onError = (): void => { this.socket.destroy() }

  readonly #onClose = (): void => {
    this.#closed = true
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
            if (performance.now() - this.#headStartedAt > l.headerTimeoutMs) { this.#refuse(408); return }
            this.socket.setTimeout(l.headerTimeoutMs, this.#onTimeout)
          }
          break
        case Step.Error:
          this.#refuse(f.status)
          return
        case Step.Head: {
          const chunks = this.#headChunks
          this.#headChunks = []
          if (!this.#open(f.head)) {
            chunks.push(buf.subarray(start))
            this.#handOver(chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks))
            return
          }
          this.#inBody = !f.messageDone
          break
        }
        case Step.Body:
          this.#countIn(f.spanEnd - f.spanStart)
          if (this.#exchange !== undefined && !this.#exchange.body(buf, f.spanStart, f.spanEnd)) this.socket.pause()
          break
      }
      if (f.messageDone) {
        this.#inBody = false
        this.#exchange?.bodyEnd()
        if (pos < buf.length) {
          this.#rest = buf.subarray(pos)
          this.socket.pause()
          return
        }
      }
    }
  }

  /** Chunked bodies count their wire bytes (Content-Length ones were counted from the head). */
  #countIn (n: number): void {
    if (this.#entry !== undefined && this.#framer.head.chunked) this.#entry.bytesIn += n
  }

  /** Decides and starts forwarding; false when the request is not the engine's to serve. */
  #open (h: RequestHeadParser): boolean {
    if (h.minor !== 1 || h.upgrade) return false
    const { router, listener } = this.#deps
    const view = router.view()
    const target = requestTarget(h.target, h.host)
    if (target === undefined) return false
    const { host, url } = target
    if ((view.acmeHttp !== undefined && url.startsWith(ACME_PREFIX)) || (listener.tls && view.strictSniHost)) return false
    const d = decide(view.routes, { host, url, listener: listener.name, tls: listener.tls }, view.names)
    if (!engineServes(d, h)) return false
    const p = d as Extract<Decision, { action: 'proxy' }>
    const up = p.upstream
    const origins = p.alternatives ?? (p.pool === undefined ? [p.target] : p.pool.candidates())
    const rid = nextRequestId()
    const facts = forwardFacts(clientIp(this.socket), listener.tls ? 'https' : 'http', host, rid, view.trustedProxies, view.via)
    const forcedHost = host !== h.host ? host : undefined
    const hostOverride = up.preserveHost ? forcedHost : new URL(origins[0] as string).host
    const headers = upstreamRequestHeaders(h.headers, facts, hostOverride)
    let head = `${h.method} ${url} HTTP/1.1\r\n`
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i] as string}: ${headers[i + 1] as string}\r\n`
    head += h.chunked ? 'transfer-encoding: chunked\r\n\r\n' : '\r\n'
    this.#started = performance.now()
    this.#keepAlive = h.keepAlive
    this.expectContinue = h.expectContinue
    this.#hsts = listener.tls ? p.route.hsts : undefined
    this.#entry = {
      rid, method: h.method, host, path: url, status: 0, bytes: 0, bytesIn: h.chunked ? 0 : Math.max(0, h.contentLength), ms: 0,
      route: p.route.name, upstream: undefined, action: p.action, listener: listener.name
    }
    this.#deps.inflight(1)
    const specs = new Map<string, OriginSpec>()
    const ex = this.#exchange = new UpstreamExchange(this, {
      origins,
      spec: origin => {
        let s = specs.get(origin)
        if (s === undefined) specs.set(origin, s = { origin, serverName: up.serverName ?? originServerName(origin), tlsVerify: up.tlsVerify, connectTimeoutMs: up.connectTimeoutMs })
        return s
      },
      headersTimeoutMs: up.headersTimeoutMs,
      idleTimeoutMs: up.idleTimeoutMs,
      method: h.method,
      head,
      bodiless: !h.chunked && h.contentLength <= 0,
      onUpstreamDown: p.pool === undefined ? undefined : o => p.pool?.markDown(o)
    }, this.#deps.pools)
    ex.onDrain = this.#resume
    this.socket.setTimeout(0)
    ex.start()
    return true
  }

  readonly #resume = (): void => { if (!this.#closed) this.socket.resume() }

  renderHead (p: ResponseHeadParser, framing: Framing): string {
    const raw = p.headers
    const named = connectionTokens(raw)
    let out = `HTTP/1.1 ${p.statusCode} ${p.statusText}\r\n`
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string
      const lower = name.toLowerCase()
      if (HOP_BY_HOP.has(lower) || (named !== undefined && named.has(lower))) continue
      out += `${name}: ${raw[i + 1] as string}\r\n`
    }
    if (this.#hsts !== undefined) out += `strict-transport-security: ${this.#hsts}\r\n`
    if (framing === Framing.Chunked) out += 'transfer-encoding: chunked\r\n'
    if (!this.#keepAlive || framing === Framing.Close) out += 'connection: close\r\n'
    return out + '\r\n'
  }

  fail (status: 502 | 504, reason: string, origin: string): void {
    const e = this.#entry
    const page = errorPage(status, reason, e?.rid ?? '', undefined)
    // The request body may not have been read to its end: the connection cannot go on then.
    if (this.#inBody) this.#keepAlive = false
    this.socket.write(`HTTP/1.1 ${status} ${page.title}\r\ncontent-type: ${page.type}\r\ncontent-length: ${Buffer.byteLength(page.body)}\r\n` +
      `cache-control: no-store\r\nx-request-id: ${e?.rid ?? ''}\r\n${this.#keepAlive ? '' : 'connection: close\r\n'}\r\n${page.body}`)
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
    this.socket.setTimeout(this.#deps.limits().keepaliveTimeoutMs, this.#onTimeout)
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

  #handOver (bytes: Buffer): void {
    const s = this.socket
    s.removeListener('data', this.#onData)
    s.removeListener('error', this.#onError)
    s.removeListener('close', this.#onClose)
    s.setTimeout(0)
    s.pause()
    this.#closed = true
    // node:http would read the socket's handle directly and never see the pushed-back bytes.
    const handle = (s as Socket & { _handle?: { _consumed?: boolean } })._handle
    if (handle !== undefined && handle !== null) handle._consumed = true
    s.unshift(bytes)
    this.#deps.fallback(s)
    s.resume()
  }
}

/** A plain proxy decision with nothing the engine leaves to the node:http path. */
function engineServes (d: Decision, h: RequestHeadParser): boolean {
  if (d.action !== 'proxy') return false
  const r = d.route
  if (r.cors !== undefined || r.responseHeaders !== undefined) return false
  if (r.action.kind === 'uap' && r.action.cookieScoping) return false
  const up = d.upstream
  if (up.caFile !== undefined) return false
  return up.maxBodySize === null || (!h.chunked && h.contentLength <= up.maxBodySize)
}

