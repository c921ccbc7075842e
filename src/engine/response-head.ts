import { FIELD_VALUE, SP, bytesEqualLower, latin1 } from './chars.js'
import { CONN_CLOSE, CONN_KEEP_ALIVE, HeadReader, connectionOptions, decimal, lastTokenIsChunked, type HeadLimits } from './head-reader.js'

/** How a response body is delimited (RFC 9112 §6.3). */
export const Framing = {
  /** No body: 1xx, 204, 304, answers to HEAD. */
  None: 0,
  Length: 1,
  Chunked: 2,
  /** Until the upstream closes the connection. */
  Close: 3
} as const
export type Framing = typeof Framing[keyof typeof Framing]

const KEEP_ALIVE_TIMEOUT = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i
const REUSE_THRESHOLD_MS = 2000

/**
 * Parses upstream response heads with the same strict field rules as requests (a refused head
 * is a 502). Knows the request method (HEAD) because framing depends on it.
 */
export class ResponseHeadParser extends HeadReader {
  statusCode = 0
  statusText = ''
  minor = 1
  contentLength = -1
  chunked = false
  /** Transfer-Encoding present but not ending in chunked: the body runs until close. */
  otherCoding = false
  keepAlive = true
  headBytes = 0
  #conn = 0
  #te = false

  constructor (limits: HeadLimits) {
    super(limits, 502)
  }

  /** The body framing of the last head, as an answer to `method`. */
  framing (method: string): Framing {
    const s = this.statusCode
    if (s < 200 || s === 204 || s === 304 || method === 'HEAD') return Framing.None
    if (this.chunked) return Framing.Chunked
    if (this.otherCoding) return Framing.Close
    return this.contentLength >= 0 ? Framing.Length : Framing.Close
  }

  /** The upstream connection can carry another request after this response. */
  reusable (method: string): boolean {
    const idle = this.idleLimitMs
    return this.keepAlive && this.framing(method) !== Framing.Close && (idle === undefined || idle > 0)
  }

  /**
   * How long the connection may idle in the pool by the upstream's `Keep-Alive: timeout=N` hint:
   * N less the reuse threshold (undici's 2 s, as on the node path), so it is not reused about
   * when the upstream closes it; at or below 0 it is not reused at all. Undefined: no hint.
   */
  get idleLimitMs (): number | undefined {
    const h = this.headers
    for (let i = 0; i < h.length; i += 2) {
      if ((h[i] as string).length !== 10 || (h[i] as string).toLowerCase() !== 'keep-alive') continue
      const m = KEEP_ALIVE_TIMEOUT.exec(h[i + 1] as string)
      if (m !== null) return Number(m[1]) * 1000 - REUSE_THRESHOLD_MS
    }
    return undefined
  }

  protected begin (): void {
    this.status = 0
    this.reason = ''
    this.contentLength = -1
    this.chunked = false
    this.otherCoding = false
    this.#conn = 0
    this.#te = false
  }

  protected startLine (buf: Buffer, start: number, lineEnd: number): boolean {
    const p = start
    if (lineEnd - p < 12 || latin1(buf, p, p + 7) !== 'HTTP/1.' || buf[p + 8] !== SP) return this.#bad('malformed status line')
    const minor = (buf[p + 7] as number) - 0x30
    if (minor !== 0 && minor !== 1) return this.#bad('unsupported HTTP version')
    const code = decimal(buf, p + 9, p + 12)
    if (code < 100 || code > 999) return this.#bad('malformed status code')
    // The SP before an empty reason phrase is often missing; nothing else may follow the code.
    if (lineEnd > p + 12 && buf[p + 12] !== SP) return this.#bad('malformed status line')
    for (let i = p + 13; i < lineEnd; i++) if (FIELD_VALUE[buf[i] as number] !== 1) return this.#bad('invalid reason phrase')
    this.statusCode = code
    this.statusText = lineEnd > p + 13 ? latin1(buf, p + 13, lineEnd) : ''
    this.minor = minor
    return true
  }

  protected field (buf: Buffer, ns: number, ne: number, vs: number, ve: number): boolean {
    switch (ne - ns) {
      case 10:
        if (bytesEqualLower(buf, ns, ne, 'connection')) this.#conn |= connectionOptions(buf, vs, ve)
        return true
      case 14:
        if (bytesEqualLower(buf, ns, ne, 'content-length')) {
          // Identical repeats are tolerated from upstreams (RFC 9110 §8.6); differing ones are not.
          const n = decimal(buf, vs, ve)
          if (n < 0 || (this.contentLength !== -1 && this.contentLength !== n)) return this.#bad('invalid Content-Length')
          this.contentLength = n
        }
        return true
      case 17:
        if (bytesEqualLower(buf, ns, ne, 'transfer-encoding')) {
          this.#te = true
          const last = lastTokenIsChunked(buf, vs, ve)
          // A later field line decides: the final coding of the whole list must be chunked.
          this.chunked = last
          this.otherCoding = !last
        }
        return true
    }
    return true
  }

  protected end (headBytes: number): boolean {
    this.headBytes = headBytes
    if (this.#te && this.contentLength !== -1) return this.#bad('both Content-Length and Transfer-Encoding')
    this.keepAlive = (this.#conn & CONN_CLOSE) === 0 && (this.minor === 1 || (this.#conn & CONN_KEEP_ALIVE) !== 0)
    return true
  }

  #bad (reason: string): boolean {
    this.refuse(502, `upstream sent an invalid response head: ${reason}`)
    return false
  }
}
