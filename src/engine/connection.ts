import type { Socket } from 'node:net'
import {
  applyPolicy, clientIp, errorAnswer, routeErrorAnswer, forwardFacts, internalError, nextRequestId, openRequest, upstreamServerName,
  upstreamRequestHeaders, upgradeRefusal, upgradeGates, upgradeOrigins, originHost, applyUpstreamEdits, withFields, asError, responseEditor, upgradeFault,
  type ListenerInfo, type OpenedRequest, type PolicyRequest, type ProxyPlan, type Reply,
  type RouterDeps, type UpstreamSettings
} from '../router/index.js'
import { RequestFramer, Step } from './request-framer.js'
import type { RequestHeadParser } from './request-head.js'
import type { Framing, ResponseHeadParser } from './response-head.js'
import { clientHead, editedHead, editedFields, fieldValue } from './client-head.js'
import { ClientReply, type ReplySink } from './client-reply.js'
import { UpstreamExchange, type ExchangeClient } from './exchange.js'
import { engineRequestInfo, type EngineRequestInfo } from './request-info.js'
import { upgrade } from './upgrade.js'
import { idleAfter } from './idle-timer.js'
import { readAsStream, readInto } from './client-reads.js'
import type { ReadBuffer } from './read-buffer.js'
import type { OriginSpec, UpstreamPools } from './upstream-pool.js'

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
  /** The socket left the engine (it became a tunnel). */
  detach: (socket: Socket) => void
  /** In-flight requests (+1/-1), for the drain on shutdown and /readyz. */
  inflight: (delta: number) => void
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large', 501: 'Not Implemented', 505: 'HTTP Version Not Supported' }

/** One request from its head to the end of its response. */
interface Current {
  readonly info: EngineRequestInfo
  readonly reply: ClientReply
  opened: OpenedRequest | undefined
  plan: ProxyPlan | undefined
  /** Neither forwarded nor answered yet: the policy is waiting (CCP resolve, held Docker names). */
  pending: boolean
  /** The response (answer or forwarded) is complete. */
  done: boolean
  /** Body bytes read (chunked bodies: their data bytes). */
  bodyIn: number
  /** The forwarded response's head went out (a later failure can only abort). */
  responseStarted: boolean
  /** When the request went upstream, and the upstream's status and time to its head (access log). */
  sentAt: number
  upstream: { upstreamStatus: number, upstreamMs: number } | undefined
  /**
   * The forwarded response passes through a Reply (compression, upstream error pages): the
   * request ends when both the upstream's response and the Reply's answer have ended.
   */
  through: { upstreamEnded: boolean, replyEnded: boolean, close: boolean } | undefined
}

/**
 * One client connection served by the engine: reads requests with the strict framer, opens each
 * with the router's `openRequest` (target, SNI check, decision), runs the shared policy
 * (src/router/policy.ts) with a `Reply` on this socket for portico's own answers, forwards what
 * the policy plans itself, and answers pipelined requests in order. Upgrades become tunnels.
 */
export class ClientConnection implements ExchangeClient, ReplySink {
  readonly socket: Socket
  expectContinue = false
  readonly #deps: EngineDeps
  readonly #framer: RequestFramer
  /** Bytes read past what may be parsed now (a pipelined request, or a body while the policy waits). */
  #rest: Buffer | undefined
  #exchange: UpstreamExchange | undefined
  #cur: Current | undefined
  #keepAlive = true
  #inBody = false
  #feeding = false
  #headStartedAt = 0
  #closed = false
  /** The request body's deadline (armed only while a body is still arriving). */
  #bodyTimer: NodeJS.Timeout | undefined
  /** The client sent its FIN: what it sent before is still answered, then the connection ends. */
  #clientEnded = false
  /** The socket reads into the connection's own buffer (client-reads.ts); undefined: `data` events. */
  readonly #reads: ReadBuffer | undefined

  constructor (socket: Socket, deps: EngineDeps) {
    this.socket = socket
    this.#deps = deps
    const l = deps.limits()
    this.#framer = new RequestFramer({ maxHeaderSize: l.maxHeaderSize, maxHeaders: l.maxHeaders })
    socket.setNoDelay(true)
    this.#reads = readInto(socket, this.#onData)
    if (this.#reads === undefined) socket.on('data', this.#onData)
    socket.on('error', this.#onError)
    socket.on('close', this.#onClose)
    // A client may send its requests and half-close (`printf … | nc -N`): the answers still go out.
    socket.allowHalfOpen = true
    socket.on('end', this.#onEnd)
    // One listener for the connection's life; later calls only change the duration (each
    // setTimeout with a callback would add another listener).
    socket.on('timeout', this.#onTimeout)
    socket.setTimeout(l.keepaliveTimeoutMs)
  }

  /** A response is being produced (the next pipelined request waits). */
  get #busy (): boolean { return this.#cur !== undefined && !this.#cur.done }

  /** Between requests with nothing pending: safe to close (shutdown, reload drain). */
  get idle (): boolean { return !this.#busy && this.#framer.idle && this.#rest === undefined }

  get method (): string { return this.#cur?.info.method ?? 'GET' }
  get http10 (): boolean { return this.#cur?.info.httpVersion === '1.0' }

  readonly #onError = (): void => { this.socket.destroy() }

  readonly #onClose = (): void => {
    this.#closed = true
    this.#clearBodyTimer()
    const c = this.#cur
    if (c === undefined || c.done) return
    c.done = true
    this.#exchange?.abort()
    this.#exchange = undefined
    c.reply.closed()
    this.#deps.inflight(-1)
    c.opened?.log(499, 0, undefined, 'client closed the connection', this.#bytesIn(c))
  }

  readonly #onEnd = (): void => {
    this.#clientEnded = true
    // A head or body cut by the FIN can never complete: as if the client went away.
    if (this.#inBody || !this.#framer.idle) { this.socket.destroy(); return }
    if (!this.#busy && this.#rest === undefined) this.#end()
  }

  #end (): void { this.socket.end(); this.#closed = true }

  readonly #onTimeout = (): void => {
    if (this.#busy) return // the exchange's own timers govern
    if (this.#framer.idle) { this.socket.destroy(); return }
    this.#refuse(408)
  }

  /** A read's bytes (in the connection's own buffer: whatever keeps them past this call lends it). */
  readonly #onData = (chunk: Buffer): void => {
    if (this.#rest !== undefined || this.#cur?.pending === true || (this.#busy && !this.#inBody)) {
      // Pipelined (or the policy is still deciding, or earlier bytes wait): parsed once this response is out.
      this.#stash(chunk)
      return
    }
    this.#feed(chunk)
  }

  #stash (chunk: Buffer): void {
    if (this.#rest === undefined) this.#reads?.lend()
    this.#rest = this.#rest === undefined ? chunk : Buffer.concat([this.#rest, chunk])
    this.socket.pause()
  }

  #feed (buf: Buffer): void {
    this.#feeding = true
    try { this.#parse(buf) } finally { this.#feeding = false }
  }

  #parse (buf: Buffer): void {
    const f = this.#framer
    let pos = 0
    while (pos < buf.length && !this.#closed) {
      if (this.#cur?.pending === true || (this.#busy && !this.#inBody)) { this.#stash(buf.subarray(pos)); return }
      if (!this.#inBody && f.idle) this.#headStartedAt = performance.now()
      pos = f.next(buf, pos, buf.length)
      switch (f.step) {
        case Step.More:
          if (!this.#inBody) {
            const l = this.#deps.limits()
            // An absolute deadline from the head's first byte: a trickle of bytes never resets it.
            if (l.headerTimeoutMs > 0 && performance.now() - this.#headStartedAt > l.headerTimeoutMs) { this.#refuse(408); return }
            idleAfter(this.socket, l.headerTimeoutMs > 0 ? l.headerTimeoutMs : l.keepaliveTimeoutMs)
          }
          break
        case Step.Error:
          this.#refuse(f.status)
          return
        case Step.Head:
          this.#inBody = !f.messageDone
          if (f.head.upgrade) { this.#reads?.lend(); this.#openUpgrade(f.head, buf.subarray(pos)); return }
          this.#start(f.head)
          if (this.#inBody) this.#armBodyTimer()
          break
        case Step.Body: {
          const c = this.#cur
          if (c === undefined || c.done) break // an answered request's body: read and dropped
          // Chunked bodies count their data (not their framing), as the node path does.
          c.bodyIn = f.head.chunked ? f.chunks.bodyBytes : c.bodyIn + f.spanEnd - f.spanStart
          const max = c.plan?.upstream.maxBodySize ?? null
          if (max !== null && c.bodyIn > max) { this.#tooLarge(c, max); return }
          const ex = this.#exchange
          // Paused, the socket reads again only once the upstream drained (every queued write
          // done with the buffer); going on, a write left queued keeps the buffer.
          if (ex !== undefined) {
            if (!ex.body(buf, f.spanStart, f.spanEnd)) this.socket.pause()
            else if (ex.holdsBody) this.#reads?.lend()
          }
          break
        }
      }
      if (f.messageDone) {
        this.#inBody = false
        this.#clearBodyTimer()
        this.#exchange?.bodyEnd()
      }
    }
  }

  /** Chunked bodies count what was read; Content-Length ones their declared length. */
  #bytesIn (c: Current): number | undefined {
    return c.info.declaredLength > 0 ? undefined : c.bodyIn
  }

  /**
   * A body that trickles: the request must be whole within request_timeout of its first byte,
   * as node:http enforces it. 408 when no response byte went out yet, else the connection is cut.
   */
  #armBodyTimer (): void {
    const limit = this.#deps.limits().requestTimeoutMs
    if (limit <= 0 || this.#bodyTimer !== undefined) return
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
    if (!this.#inBody || this.#closed) return
    const ex = this.#exchange
    this.#exchange = undefined
    ex?.abort()
    const c = this.#cur
    if (c === undefined || c.done) {
      // Answered already, the body still trickling in to be dropped: node:http closes such a connection too.
      this.socket.destroy()
      return
    }
    c.done = true
    this.#deps.inflight(-1)
    c.opened?.log(408, 0, undefined, 'request body not received within request_timeout', this.#bytesIn(c))
    if (c.responseStarted || c.reply.headSent) this.socket.destroy()
    else this.#refuse(408)
  }


  /**
   * A request head: opened by the router (target, SNI check, decision, request id), then the
   * shared policy answers it on a `Reply` or plans its forwarding.
   */
  #start (h: RequestHeadParser): void {
    this.#keepAlive = h.keepAlive
    this.expectContinue = h.expectContinue
    const info = engineRequestInfo(h, this.socket)
    const c: Current = {
      info, reply: new ClientReply(this), opened: undefined, plan: undefined, pending: true, done: false, bodyIn: 0, responseStarted: false,
      sentAt: 0, upstream: undefined, through: undefined
    }
    this.#cur = c
    this.#deps.inflight(1)
    // The keep-alive (or head) timer keeps running: it fires only after that long without any
    // client I/O, and #onTimeout ignores it while a response is being produced. Stopping and
    // re-arming it per request cost a Timeout and a bound function each time.
    this.#decide(c, nextRequestId(), false)
  }

  #decide (c: Current, rid: string, resumed: boolean): void {
    const router = this.#deps.router
    const view = router.view()
    let p: PolicyRequest | undefined
    try {
      const opened = c.opened = openRequest(router, view, this.#deps.listener, c.info, rid, false)
      p = { deps: router, view, listener: this.#deps.listener, req: c.info, opened, reply: c.reply }
      const policy = p
      applyPolicy(p, {
        proxy: plan => { this.#forward(c, policy, plan) },
        reopen: () => { if (!c.done) this.#decide(c, rid, true) }
      }, resumed)
    } catch (err) {
      // Nothing may escape into the socket's event handler (an uncaught exception ends the process).
      if (c.done) return
      if (p !== undefined) { internalError(p, err); return }
      router.fault?.(asError(err), { rid, host: c.info.hostHeader, path: c.info.target, route: undefined })
      errorAnswer(c.reply, 502, 'internal error', rid, undefined)
    }
    // An answer written meanwhile ends `pending` through `replied`; a wait keeps the bytes stashed.
  }

  /** Forwards a planned request over a pooled upstream connection. */
  #forward (c: Current, p: PolicyRequest, plan: ProxyPlan): void {
    if (c.done) return
    c.plan = plan
    c.pending = false
    const { listener } = this.#deps
    const { view, opened } = p
    const info = c.info
    const facts = forwardFacts(
      info.peer, listener.tls ? 'https' : 'http', opened.host, opened.rid, view.trustedProxies, view.via, view.clientCertHeaders, info.clientCert
    )
    const headers = applyUpstreamEdits(upstreamRequestHeaders(info.raw, facts, plan.hostOverride, plan.dropRequest), plan.edits)
    // HTTP/1.0 clients: the upstream answers in 1.0 too (never chunked, which they could not read).
    let head = `${info.method} ${plan.path} HTTP/${info.httpVersion}\r\n`
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i] as string}: ${headers[i + 1] as string}\r\n`
    const chunked = info.chunked
    const up = plan.upstream
    const specs = new Map<string, OriginSpec>()
    const ex = this.#exchange = new UpstreamExchange(this, {
      origins: plan.origins,
      spec: origin => {
        let s = specs.get(origin)
        if (s === undefined) specs.set(origin, s = originSpec(origin, up, plan.serverName, view.dispatchers.caOf(up)))
        return s
      },
      headersTimeoutMs: up.headersTimeoutMs,
      idleTimeoutMs: up.idleTimeoutMs,
      method: info.method,
      head: head + (chunked ? 'transfer-encoding: chunked\r\n\r\n' : '\r\n'),
      bodiless: !chunked && info.declaredLength <= 0,
      retries: up.retries,
      onUpstreamDown: plan.onUpstreamDown,
      pool: plan.pool
    }, this.#deps.pools)
    ex.onDrain = this.#resume
    // Expect is not forwarded (as on the node path): portico itself asks for the body, once it is going upstream.
    if (this.expectContinue && this.#inBody) {
      this.socket.write('HTTP/1.1 100 Continue\r\n\r\n')
      this.expectContinue = false
    }
    c.sentAt = performance.now()
    ex.start()
    this.#continue()
  }

  /**
   * An upgrade (websocket) with a proxy decision: its own upstream connection, then a spliced
   * pair of sockets. The connection leaves the engine here (listeners removed, forgotten by the
   * listener), so an open tunnel keeps nothing of this object, the request or the snapshot.
   * Other decisions get the node path's refusal, then the connection closes.
   */
  #openUpgrade (h: RequestHeadParser, early: Buffer): void {
    const router = this.#deps.router
    const view = router.view()
    const info = engineRequestInfo(h, this.socket)
    const rid = nextRequestId()
    let opened: OpenedRequest
    try {
      opened = openRequest(router, view, this.#deps.listener, info, rid, true)
    } catch (err) {
      // Nothing may escape into the socket's event handler: a 502, as the node path's upgrade handler answers.
      router.fault?.(asError(err), { rid, host: info.hostHeader, path: info.target, route: undefined })
      this.socket.end(upgradeFault(rid))
      this.#closed = true
      return
    }
    const d = opened.decision
    if (d.action !== 'proxy') {
      // As on the node path: no policy for an upgrade that is not proxied, a bodiless refusal and close.
      const r = upgradeRefusal(d, opened.rid)
      this.socket.end(r.head)
      this.#closed = true
      opened.log(r.status, 0, undefined, d.reason)
      return
    }
    const protocol = fieldValue(h.headers, 'upgrade') ?? 'websocket'
    this.#detach()
    this.#deps.detach(this.socket)
    const client = this.socket
    // The route's gates first (websockets must not bypass auth); a refusal was written and logged.
    upgradeGates(view, this.#deps.listener, info, opened, client).then(edits => {
      if (edits === false) return
      const origins = upgradeOrigins(d, info, view.trustedProxies, this.socket)
      const proto = this.#deps.listener.tls ? 'https' : 'http'
      const facts = forwardFacts(info.peer, proto, opened.host, opened.rid, view.trustedProxies, view.via, view.clientCertHeaders, info.clientCert)
      upgrade({
        client,
        origins,
        target: origin => {
          const hostOverride = d.upstream.preserveHost ? opened.forcedHost : originHost(origin)
          const headers = applyUpstreamEdits(upstreamRequestHeaders(h.headers, facts, hostOverride), edits)
          let head = `${h.method} ${edits?.path ?? opened.url} HTTP/1.1\r\n`
          for (let i = 0; i < headers.length; i += 2) head += `${headers[i] as string}: ${headers[i + 1] as string}\r\n`
          const spec = originSpec(origin, d.upstream, d.upstream.serverName, view.dispatchers.caOf(d.upstream))
          return { spec, head: `${head}connection: upgrade\r\nupgrade: ${protocol}\r\n\r\n` }
        },
        early: early.length > 0 ? early : undefined,
        headersTimeoutMs: d.upstream.headersTimeoutMs,
        idleTimeoutMs: d.upstream.websocketIdleTimeoutMs,
        edit: responseEditor(d.route, opened.host, undefined),
        rid: opened.rid,
        tunnels: router.tunnels,
        pools: this.#deps.pools,
        done: (status, error) => { opened.log(status, 0, origins.current, error) }
      })
    }).catch((err: unknown) => {
      // Thrown before upgrade() wrote anything: a 502, as on the node path (not a silent close).
      const e = asError(err)
      router.fault?.(e, { rid: opened.rid, host: opened.host, path: opened.url, route: d.route.name })
      if (!client.destroyed) client.end(upgradeFault(opened.rid))
      opened.log(502, 0, undefined, `internal error: ${e.message}`)
    })
  }

  readonly #resume = (): void => { if (!this.#closed) this.socket.resume() }

  renderHead (p: ResponseHeadParser, framing: Framing, origin: string): string {
    const c = this.#cur as Current
    this.#responseStarted(c, p)
    const plan = c.plan as ProxyPlan
    const close = !this.#keepAlive
    const setCookie = plan.sticky?.(origin)
    const edit = plan.editResponse
    const unedited = edit === undefined || (edit.cookiesOnly === true && fieldValue(p.headers, 'set-cookie') === undefined)
    return unedited && plan.dropResponse === undefined
      ? clientHead(p, framing, { hsts: plan.hsts, close, setCookie })
      : editedHead(p, framing, { hsts: plan.hsts, close, drop: plan.dropResponse, edit: plan.editResponse, setCookie })
  }

  /** The route passes proxied responses through a Reply: it gets the edited head now, the de-framed body next. */
  through (p: ResponseHeadParser, origin: string): Reply | undefined {
    const c = this.#cur as Current
    const plan = c.plan as ProxyPlan
    if (plan.through === undefined) return undefined
    this.#responseStarted(c, p)
    c.through = { upstreamEnded: false, replyEnded: false, close: false }
    const reply = plan.through(c.reply)
    reply.head(p.statusCode, editedFields(p, { hsts: plan.hsts, drop: plan.dropResponse, edit: plan.editResponse, setCookie: plan.sticky?.(origin) }))
    return reply
  }

  #responseStarted (c: Current, p: ResponseHeadParser): void {
    c.responseStarted = true
    c.upstream = { upstreamStatus: p.statusCode, upstreamMs: Math.round((performance.now() - c.sentAt) * 1000) / 1000 }
  }

  /** 103 Early Hints: only the Link fields pass, as node's writeEarlyHints on the node path. */
  earlyHints (p: ResponseHeadParser): void {
    let links = ''
    const h = p.headers
    for (let i = 0; i < h.length; i += 2) if ((h[i] as string).toLowerCase() === 'link') links += `link: ${h[i + 1] as string}\r\n`
    if (links === '' || this.http10 || this.#cur?.plan === undefined) return
    this.socket.write(`HTTP/1.1 103 Early Hints\r\n${links}\r\n`, 'latin1')
  }

  /** portico's own error answer on this connection (HSTS and CORS fields as the route says). */
  #errorReply (c: Current): Reply {
    const hsts = c.plan?.hsts
    return hsts === undefined ? c.reply : withFields(c.reply, [['strict-transport-security', hsts]])
  }

  fail (status: 502 | 504, reason: string, origin: string): void {
    const c = this.#cur as Current
    this.#exchange = undefined
    // Nothing was sent: no upstream response passes through the route's Reply (an exception may
    // have come while handing it over), so this answer alone ends the request.
    c.through = undefined
    const bytes = routeErrorAnswer(this.#errorReply(c), c.plan?.errorPages, status, reason, c.opened?.rid ?? '', c.info.header('accept'), c.plan?.cors, c.info.method)
    c.opened?.log(status, bytes, origin, reason, this.#bytesIn(c))
  }

  done (status: number, bytes: number, origin: string, closeClient: boolean): void {
    const c = this.#cur as Current
    this.#exchange = undefined
    c.opened?.log(status, bytes, origin, undefined, this.#bytesIn(c), c.upstream)
    const t = c.through
    if (t !== undefined) {
      // The Reply may still be writing (a compressor flushing): the next request waits for it.
      t.upstreamEnded = true
      t.close ||= closeClient
      if (!t.replyEnded) return
    }
    this.#finished(c, closeClient || t?.close === true || !this.#keepAlive)
  }

  fault (err: Error): void {
    const c = this.#cur
    this.#deps.router.fault?.(err, { rid: c?.opened?.rid ?? '', host: c?.opened?.host, path: c?.info.target ?? '', route: c?.plan?.route.name })
  }

  aborted (status: number, bytes: number, origin: string, reason: string): void {
    const c = this.#cur as Current
    this.#exchange = undefined
    c.done = true
    this.#deps.inflight(-1)
    c.opened?.log(status, bytes, origin, reason, this.#bytesIn(c), c.upstream)
    this.socket.destroy()
  }

  /** A chunked body past the route's max_body_size: 413 as on the node path (or an abort once the response started). */
  #tooLarge (c: Current, max: number): void {
    const ex = this.#exchange
    this.#exchange = undefined
    ex?.abort()
    const reason = `request body larger than ${max} bytes`
    if (c.responseStarted) {
      this.aborted(0, 0, c.plan?.origins[0] ?? '', reason)
      return
    }
    this.#keepAlive = false
    const bytes = routeErrorAnswer(this.#errorReply(c), c.plan?.errorPages, 413, reason, c.opened?.rid ?? '', c.info.header('accept'), c.plan?.cors, c.info.method)
    c.opened?.log(413, bytes, undefined, reason, c.bodyIn)
  }

  /** ReplySink: the connection closes after an answer that leaves a request body unread (errors, or a client waiting for 100-continue). */
  closeAfter (status: number): boolean {
    if (!this.#keepAlive) return true
    if (this.#inBody && (status >= 400 || this.expectContinue)) { this.#keepAlive = false; return true }
    return false
  }

  /** ReplySink: portico's own answer is complete. */
  replied (_status: number, _bytes: number, close: boolean): void {
    const c = this.#cur
    if (c === undefined || c.done) return
    const t = c.through
    if (t !== undefined && !t.upstreamEnded) {
      // A replaced upstream answer (error page) ends first: the upstream's body is still read and dropped.
      t.replyEnded = true
      t.close ||= close
      return
    }
    this.#exchange = undefined
    this.#finished(c, close || c.through?.close === true, true)
  }

  /** After a response: close, or go on with pipelined bytes (a pending body is read and dropped), or wait for the next request. */
  #finished (c: Current, close: boolean, deferred = false): void {
    c.done = true
    // A body still arriving after the answer is read and dropped, within the same deadline.
    if (!this.#inBody) this.#clearBodyTimer()
    c.pending = false
    this.#deps.inflight(-1)
    // The request body may not have been read to its end after a forwarded response: the stream is mid-message.
    if (close || !this.#keepAlive || (this.#inBody && c.plan !== undefined)) { this.#end(); return }
    idleAfter(this.socket, this.#deps.limits().keepaliveTimeoutMs)
    // An answer's writer logs it right after `end`: the next request waits for that line.
    if (deferred && !this.#feeding) process.nextTick(this.#continueLater)
    else this.#continue()
  }

  readonly #continueLater = (): void => { this.#continue() }

  /** Parses what was stashed, unless a parse is under way (it goes on by itself). */
  #continue (): void {
    if (this.#feeding || this.#closed) return
    const rest = this.#rest
    this.#rest = undefined
    if (rest !== undefined) this.#feed(rest)
    // After the client's FIN nothing more comes: once the last answer is out, the connection ends.
    if (this.#clientEnded && !this.#closed) { if (!this.#busy) this.#end(); return }
    if (!this.#closed && (!this.#busy || (this.#inBody && this.#cur?.pending !== true))) this.socket.resume()
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
    // A tunnel reads the socket as a stream (pipe).
    if (this.#reads !== undefined) readAsStream(s, this.#reads)
    else s.removeListener('data', this.#onData)
    s.removeListener('error', this.#onError)
    s.removeListener('close', this.#onClose)
    s.removeListener('end', this.#onEnd)
    s.removeListener('timeout', this.#onTimeout)
    s.setTimeout(0)
    s.pause()
    this.#closed = true
  }
}

function originSpec (origin: string, up: UpstreamSettings, serverName: string | undefined, ca: string | undefined): OriginSpec {
  return { origin, serverName: upstreamServerName(serverName, origin), tlsVerify: up.tlsVerify, connectTimeoutMs: up.connectTimeoutMs, ca }
}
