import { ChunkedTracker, CHUNKED_NEED_MORE, CHUNKED_REFUSED } from './chunked.js'
import { NEED_MORE, REFUSED, type HeadLimits } from './head-reader.js'
import { RequestHeadParser } from './request-head.js'

/** What the last `next` call found. */
export const Step = {
  /** All bytes were consumed; nothing complete yet. */
  More: 0,
  /** A request head completed (on `framer.head`); `messageDone` when it has no body. */
  Head: 1,
  /** Body bytes as they came on the wire, `buf[spanStart, spanEnd)`; `messageDone` on the last. */
  Body: 2,
  /** The stream is refused (`framer.status`, `framer.reason`); close the connection. */
  Error: 3
} as const
export type Step = typeof Step[keyof typeof Step]

/**
 * Splits a client's byte stream into requests: head, then the body's wire bytes (Content-Length
 * counted, chunked tracked), then the next head. Each `next` call stops at one event, so the
 * connection decides when to go on (pipelined requests are answered in order).
 */
export class RequestFramer {
  readonly head: RequestHeadParser
  readonly chunks: ChunkedTracker
  step: Step = Step.More
  spanStart = 0
  spanEnd = 0
  messageDone = false
  status = 0
  reason = ''
  #inBody = false
  #left = 0

  constructor (limits: HeadLimits) {
    this.head = new RequestHeadParser(limits)
    this.chunks = new ChunkedTracker(limits.maxHeaderSize, limits.maxHeaders)
  }

  /** Between messages (no head or body partly read): a close here loses nothing. */
  get idle (): boolean { return !this.#inBody && !this.head.midHead }

  /** Consumes bytes from `buf[pos, end)` up to one event; returns the new position. */
  next (buf: Buffer, pos: number, end: number): number {
    this.messageDone = false
    if (!this.#inBody) {
      const r = this.head.read(buf, pos, end)
      if (r === NEED_MORE) { this.step = Step.More; return end }
      if (r === REFUSED) return this.#error(this.head.status, this.head.reason, pos)
      this.step = Step.Head
      const h = this.head
      if (h.chunked) {
        this.chunks.reset()
        this.#inBody = true
      } else if (h.contentLength > 0) {
        this.#left = h.contentLength
        this.#inBody = true
      } else {
        this.messageDone = true
      }
      return r
    }
    if (pos === end) { this.step = Step.More; return end }
    this.step = Step.Body
    this.spanStart = pos
    if (!this.head.chunked) {
      const n = Math.min(this.#left, end - pos)
      this.#left -= n
      this.spanEnd = pos + n
    } else {
      const r = this.chunks.feed(buf, pos, end)
      if (r === CHUNKED_REFUSED) return this.#error(400, this.chunks.reason, pos)
      this.spanEnd = r === CHUNKED_NEED_MORE ? end : r
      if (r !== CHUNKED_NEED_MORE) this.#left = 0
      else this.#left = 1
    }
    if (this.#left === 0) {
      this.#inBody = false
      this.messageDone = true
    }
    return this.spanEnd
  }

  #error (status: number, reason: string, pos: number): number {
    this.step = Step.Error
    this.status = status
    this.reason = reason
    this.#inBody = false
    this.head.reset()
    return pos
  }
}
