import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { ChunkedTracker, CHUNKED_REFUSED } from './chunked.js'
import { NEED_MORE, REFUSED } from './head-reader.js'
import { Framing, ResponseHeadParser } from './response-head.js'
import { idleAfter } from './idle-timer.js'
import { claim, lent, unclaim, type OriginSpec, type UpstreamPools, type UpstreamUser } from './upstream-pool.js'
import {
  asError, attemptOn, BODY_TIMEOUT, HEADERS_TIMEOUT, failureReason, failureStatus, NOT_CONNECTED, retryBudget, retryStep, spend,
  type BodyState, type Reply, type RetryBudget, type UpstreamPool
} from '../router/index.js'

/** The client side of one exchange, as the connection offers it. */
export interface ExchangeClient {
  readonly socket: Socket
  /** The client asked for `100 Continue` (it is forwarded when the upstream sends one). */
  readonly expectContinue: boolean
  /** The response head to send the client, from the upstream's (hop-by-hop removed, framing set). */
  renderHead (p: ResponseHeadParser, framing: Framing, origin: string): string
  /**
   * A Reply the response passes through (compression, upstream error pages) — its head already
   * given — or undefined to pass the upstream's bytes through as they are (the common case).
   */
  through?: (p: ResponseHeadParser, origin: string) => Reply | undefined
  /** A 103 Early Hints from the upstream (relayed as on the node path: its Link fields). */
  earlyHints?: (p: ResponseHeadParser) => void
  /** Before any response byte: portico answers itself. */
  fail (status: 502 | 504, reason: string, origin: string): void
  /** The response is complete (`bytes`: body bytes sent); `closeClient` when the client connection cannot continue. */
  done (status: number, bytes: number, origin: string, closeClient: boolean): void
  /** The upstream broke after the response head was sent: only an aborted response is honest now. */
  aborted (status: number, bytes: number, origin: string, reason: string): void
  /** An exception of portico's own while relaying the response (a bug): logged at error level. */
  fault?: (err: Error) => void
}

export interface ExchangeTarget {
  origins: readonly string[]
  spec: (origin: string) => OriginSpec
  headersTimeoutMs: number
  idleTimeoutMs: number
  method: string
  /** The request head as it goes upstream, whole (one write). */
  head: string
  /** The request has no body: failed attempts may be repeated (with an idempotent method). */
  bodiless: boolean
  /** How many further candidates the request may move on to (the route's `retries`). */
  retries: number
  onUpstreamDown: ((origin: string) => void) | undefined
  /** The route's pool: each attempt is counted in flight on its member (least_conn). */
  pool: UpstreamPool | undefined
}

const HEAD_LIMITS = { maxHeaderSize: 65536, maxHeaders: 256 }
const EMPTY = Buffer.alloc(0)

/**
 * One request forwarded to an upstream over a pooled socket: the head in one write, the body
 * passed through as the client sends it (backpressure: a full upstream socket pauses the client),
 * the response head parsed and rewritten, written corked with the first body bytes, the body
 * passed through with its framing tracked (a full client socket pauses the upstream). Retries
 * follow the router's rules (retry.ts, the same as the node path): a connection that never
 * opened moves on to the next origin, with the body too (none of it went anywhere yet: the
 * client is paused until a connection exists); one that broke before any response byte reached
 * the client (a held head included) is repeated only for idempotent, bodiless requests;
 * `retries` bounds the moves.
 */
export class UpstreamExchange implements UpstreamUser {
  readonly #c: ExchangeClient
  readonly #t: ExchangeTarget
  readonly #pools: UpstreamPools
  #attempt = 0
  #origin = ''
  #spec: OriginSpec | undefined
  #up: Socket | undefined
  #pendingBody: Buffer[] = []
  #requestDone = false
  #finished = false
  #started = false
  #framing: Framing = Framing.None
  #left = 0
  #bytes = 0
  /**
   * A response byte reached the client (an interim, the head) or a Reply took the head: the
   * request can no longer be repeated. A head portico still holds (it waits for the first body
   * byte) commits nothing: an idempotent, bodiless request whose upstream broke then is repeated
   * like one that broke before any byte (a primary killed between its head and its body).
   */
  get #committed (): boolean { return this.#headSent || this.#reply !== undefined || this.#interimSent }
  /** A 100 Continue or a 103 went to the client. */
  #interimSent = false
  #budget: RetryBudget
  /** The request body as the retry rules see it (null: none); "read" once a byte went upstream. */
  readonly #bodyState: { readableDidRead: boolean, destroyed: boolean } | null
  readonly #head = new ResponseHeadParser(HEAD_LIMITS)
  #chunks: ChunkedTracker | undefined
  /** Set while the response passes through a Reply: de-framed body bytes go there. */
  #reply: Reply | undefined
  #replyOk = true
  /** Ends the current attempt's in-flight count. */
  #endAttempt: () => void = noop

  constructor (client: ExchangeClient, target: ExchangeTarget, pools: UpstreamPools) {
    this.#c = client
    this.#t = target
    this.#pools = pools
    this.#budget = retryBudget(target.retries)
    this.#bodyState = target.bodiless ? null : { readableDidRead: false, destroyed: false }
  }

  start (): void { this.#connect() }

  /** Request body bytes (wire form); false when the upstream socket is full (pause the client until `onDrain`). */
  body (buf: Buffer, start: number, end: number): boolean {
    const chunk = buf.subarray(start, end)
    // Kept until a connection exists, past this read: a copy (the client's read buffer is reused).
    if (this.#up === undefined) { this.#pendingBody.push(Buffer.from(chunk)); return false }
    this.#touchBody()
    return flushed(this.#up, this.#up.write(chunk))
  }

  /** The request body is complete. */
  bodyEnd (): void { this.#requestDone = true }

  /** The last body bytes given are still referenced (a write left queued). */
  get holdsBody (): boolean { return this.#up !== undefined && this.#up.writableLength > 0 }

  /** Called once when a paused client may send body bytes again. */
  onDrain: (() => void) | undefined

  /** A response byte went to the client: portico cannot answer itself any more. */
  get responseStarted (): boolean { return this.#headSent }

  /** The client went away: nothing more will be read or written. */
  abort (): void {
    if (this.#finished) return
    this.#finished = true
    this.#endAttempt()
    this.#up?.destroy()
  }

  #connect (): void {
    this.#origin = this.#t.origins[this.#attempt] as string
    this.#endAttempt()
    this.#endAttempt = attemptOn(this.#t.pool, this.#origin)
    const spec = this.#spec = this.#t.spec(this.#origin)
    this.#pools.acquire(spec, (err, lease) => {
      if (this.#finished) { if (lease !== undefined) this.#pools.release(spec, lease.socket, true); return }
      if (err !== undefined || lease === undefined) { this.#failed(err ?? new Error('no connection')); return }
      this.#attach(lease.socket)
    })
  }

  #attach (up: Socket): void {
    this.#up = up
    claim(up, this)
    idleAfter(up, this.#t.headersTimeoutMs)
    up.cork()
    // Heads are latin1 strings (field values may carry obs-text bytes): written back byte for byte.
    up.write(this.#t.head, 'latin1')
    if (this.#pendingBody.length > 0) this.#touchBody()
    for (const b of this.#pendingBody) up.write(b)
    this.#pendingBody = []
    up.uncork()
    this.onDrain?.()
  }

  /** Lets go of the upstream socket (its listeners stay: they belong to the pool). */
  #detach (): Socket | undefined {
    const up = this.#up
    if (up === undefined) return undefined
    unclaim(up)
    this.#up = undefined
    return up
  }

  #touchBody (): void { if (this.#bodyState !== null) this.#bodyState.readableDidRead = true }

  upDrain (): void { this.onDrain?.() }

  upTimeout (): void {
    const code = this.#started ? BODY_TIMEOUT : HEADERS_TIMEOUT
    this.#failed(Object.assign(new Error('upstream timeout'), { code }))
  }

  upError (err: Error): void { this.#failed(err) }
  upClose (): void { this.#failed(Object.assign(new Error('upstream closed the connection'), { code: 'ECONNRESET' })) }

  upEnd (): void {
    try {
      if (this.#started && this.#framing === Framing.Close) {
        // The head waits for body bytes: a close-delimited body that stayed empty still needs it.
        if (this.#reply === undefined && !this.#headSent) {
          this.#write(this.#c.socket, this.#c.renderHead(this.#head, this.#framing, this.#origin), EMPTY, 0, 0)
        }
        this.#reply?.end()
        this.#complete(false)
        return
      }
      this.#failed(Object.assign(new Error('upstream closed the connection'), { code: 'ECONNRESET' }))
    } catch (err) { this.#internal(err) }
  }

  /**
   * Response bytes. Nothing may escape into the pool's socket handler: an exception (a header
   * editor, a Reply) ends as a 502 when nothing was sent yet, as an aborted response otherwise.
   */
  upData (chunk: Buffer): void {
    try { this.#upData(chunk) } catch (err) { this.#internal(err) }
  }

  #internal (err: unknown): void {
    const e = asError(err)
    this.#c.fault?.(e)
    if (this.#finished) return
    const reason = `internal error: ${e.message}`
    if (this.#headSent || this.#reply !== undefined) { this.#broken(reason); return }
    this.#failedHead(reason)
  }

  #upData (chunk: Buffer): void {
    let pos = 0
    if (!this.#started) {
      pos = this.#readHead(chunk)
      if (pos < 0) return
    }
    // The head waits for the first body bytes (one corked write), unless the body is empty.
    if (pos < chunk.length || this.#framing === Framing.None || (this.#framing === Framing.Length && this.#left === 0)) {
      const up = this.#up
      const client = this.#c.socket
      const queuedBefore = client.writableLength > 0
      this.#body(chunk, pos)
      // A paused upstream reads again only after the client drained (every queued write done
      // with the buffer); one that goes on reading, or goes back to the pool, must not reuse it.
      const held = client.writableLength > 0 && (queuedBefore || !(client as TLSSocket).encrypted)
      if (up !== undefined && (this.#reply !== undefined || (held && !this.#upPaused))) lent(up)
    }
  }

  /** Parses response heads (skipping interim 1xx); returns where the body starts, or -1. */
  #readHead (chunk: Buffer): number {
    let pos = 0
    for (;;) {
      const r = this.#head.read(chunk, pos, chunk.length)
      if (r === NEED_MORE) return -1
      if (r === REFUSED) { this.#failedHead(this.#head.reason); return -1 }
      const code = this.#head.statusCode
      if (code >= 200) {
        this.#startResponse()
        return r
      }
      if (code === 101) { this.#failedHead('upstream switched protocols unasked'); return -1 }
      if (code === 100 && this.#c.expectContinue) { this.#interimSent = true; this.#c.socket.write('HTTP/1.1 100 Continue\r\n\r\n') }
      else if (code === 103) { this.#interimSent = true; this.#c.earlyHints?.(this.#head) }
      pos = r
      if (pos === chunk.length) return -1
    }
  }

  #startResponse (): void {
    this.#started = true
    this.#framing = this.#head.framing(this.#t.method)
    if (this.#framing === Framing.Length) this.#left = this.#head.contentLength
    if (this.#framing === Framing.Chunked) { (this.#chunks ??= new ChunkedTracker(HEAD_LIMITS.maxHeaderSize, HEAD_LIMITS.maxHeaders)).reset() }
    const reply = this.#reply = this.#c.through?.(this.#head, this.#origin)
    if (this.#chunks !== undefined) this.#chunks.onData = reply === undefined ? undefined : this.#toReply
    // Same listener, new duration (a second setTimeout with a callback would add it twice).
    if (this.#up !== undefined) idleAfter(this.#up, this.#t.idleTimeoutMs)
  }

  #body (chunk: Buffer, pos: number): void {
    const client = this.#c.socket
    this.#replyOk = true
    let end = chunk.length
    let complete = false
    switch (this.#framing) {
      case Framing.None: end = pos; complete = true; break
      case Framing.Length:
        end = pos + Math.min(this.#left, chunk.length - pos)
        this.#left -= end - pos
        complete = this.#left === 0
        break
      case Framing.Chunked: {
        const r = (this.#chunks as ChunkedTracker).feed(chunk, pos, chunk.length)
        if (r === CHUNKED_REFUSED) { this.#broken(`invalid chunked body from upstream: ${(this.#chunks as ChunkedTracker).reason}`); return }
        if (r >= 0) { end = r; complete = true }
        break
      }
    }
    const reply = this.#reply
    if (reply !== undefined) {
      if (this.#framing !== Framing.Chunked && end > pos) this.#toReply(chunk, pos, end)
      else if (this.#framing === Framing.Chunked) this.#bytes += end - pos
      if (complete) { reply.end(); this.#complete(end === chunk.length); return }
      if (!this.#replyOk) {
        this.#up?.pause()
        reply.onDrain(this.#resumeUp)
      }
      return
    }
    const head = this.#bytes === 0 && !this.#headSent ? this.#c.renderHead(this.#head, this.#framing, this.#origin) : undefined
    const ok = this.#write(client, head, chunk, pos, end)
    if (complete) { this.#complete(end === chunk.length); return }
    if (!ok) {
      this.#upPaused = true
      this.#up?.pause()
      client.once('drain', this.#resumeUp)
    }
  }

  /** De-framed body bytes into the Reply (chunk data spans come from the tracker). */
  readonly #toReply = (buf: Buffer, start: number, end: number): void => {
    if (this.#framing !== Framing.Chunked) this.#bytes += end - start
    if (!(this.#reply as Reply).write(buf.subarray(start, end))) this.#replyOk = false
  }

  #headSent = false

  /** Head (once) and body bytes in one corked write. */
  #write (client: Socket, head: string | undefined, chunk: Buffer, start: number, end: number): boolean {
    if (head === undefined && start === end) return true
    if (head !== undefined) this.#headSent = true
    this.#bytes += end - start
    if (head !== undefined && start === end) return flushed(client, client.write(head, 'latin1'))
    if (head === undefined) return flushed(client, client.write(start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end)))
    client.cork()
    client.write(head, 'latin1')
    const ok = client.write(chunk.subarray(start, end))
    client.uncork()
    return flushed(client, ok)
  }

  /** The upstream waits for the client to drain (set only while passing bytes straight through). */
  #upPaused = false
  readonly #resumeUp = (): void => { this.#upPaused = false; this.#up?.resume() }

  /** The response ended; `clean`: no bytes followed it on the upstream socket. */
  #complete (clean: boolean): void {
    if (this.#finished) return
    this.#finish()
    const spec = this.#spec as OriginSpec
    const reusable = clean && this.#requestDone && this.#head.reusable(this.#t.method)
    const up = this.#detach()
    if (up !== undefined) this.#pools.release(spec, up, reusable, this.#head.idleLimitMs)
    // A response that ended before the request body did leaves the client stream mid-message.
    this.#c.done(this.#head.statusCode, this.#bodyBytes(), this.#origin, !this.#requestDone || this.#framing === Framing.Close)
  }

  /** Body bytes for the access log: a chunked body's data, without its framing (as the node path counts). */
  #bodyBytes (): number {
    return this.#framing === Framing.Chunked && this.#chunks !== undefined ? this.#chunks.bodyBytes : this.#bytes
  }

  #finish (): void {
    this.#finished = true
    this.#endAttempt()
    this.#c.socket.removeListener('drain', this.#resumeUp)
  }

  /** Drops what a broken attempt's response left (a held head, a partial one) before the next attempt. */
  #forgetResponse (): void {
    this.#head.reset()
    this.#started = false
    this.#framing = Framing.None
    this.#left = 0
    this.#bytes = 0
  }

  #broken (reason: string): void {
    if (this.#finished) return
    this.#reply?.destroy()
    this.#detach()?.destroy()
    this.#finish()
    this.#c.aborted(this.#head.statusCode, this.#bodyBytes(), this.#origin, reason)
  }

  #failedHead (reason: string): void {
    this.#detach()?.destroy()
    this.#finish()
    this.#c.fail(502, reason, this.#origin)
  }

  #failed (err: Error): void {
    if (this.#finished) return
    const code = (err as NodeJS.ErrnoException).code ?? ''
    // A head that still waits for its first body byte was never sent: the client can get a 502/504.
    if (this.#started && (this.#headSent || this.#reply !== undefined)) { this.#broken(failureReason(code, err)); return }
    this.#detach()?.destroy()
    if (NOT_CONNECTED.has(code)) this.#t.onUpstreamDown?.(this.#origin)
    const hasNext = this.#attempt + 1 < this.#t.origins.length
    const step = this.#committed ? undefined : retryStep(code, this.#t.method, this.#bodyState as BodyState | null, this.#budget, hasNext)
    if (step !== undefined) {
      this.#budget = spend(this.#budget, step)
      if (step === 'next-origin') this.#attempt++
      this.#forgetResponse()
      this.#connect()
      return
    }
    this.#finish()
    this.#c.fail(failureStatus(code), failureReason(code, err), this.#origin)
  }
}

function noop (): void {}

/*
 * `chunk` in `upData` may be a view of the upstream socket's reused read buffer: it is `lent`
 * (the next read goes to a fresh buffer) when something still points at it after the call — a
 * Reply; a write queued behind one in flight (the stream layer keeps it); on a plain socket, a
 * write the kernel did not take whole (libuv keeps the rest). A TLS socket's write encrypts (or
 * copies what it cannot encrypt yet) before returning, so its unfinished write holds no reference.
 */

/**
 * Whether the reader may go on: `write()` says false for any chunk at or above the socket's
 * high-water mark (every 64 KiB read) even when the kernel took it all at once, which paused
 * and resumed the other side once per chunk. Nothing left queued is the real "not full".
 */
function flushed (socket: Socket, ok: boolean): boolean { return ok || socket.writableLength === 0 }
