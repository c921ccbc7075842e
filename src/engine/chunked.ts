import { COLON, CR, FIELD_VALUE, HEX, HTAB, LF, QDTEXT, SP, TOKEN } from './chars.js'

/** Parser states (plain numbers: switch on small integers is what V8 optimises best). */
const S = {
  SizeFirst: 0,
  Size: 1,
  ExtNameFirst: 2,
  ExtName: 3,
  ExtValueFirst: 4,
  ExtToken: 5,
  ExtQuoted: 6,
  ExtQuotedEscape: 7,
  ExtAfterQuote: 8,
  SizeLf: 9,
  Data: 10,
  DataCr: 11,
  DataLf: 12,
  TrailerStart: 13,
  TrailerName: 14,
  TrailerValue: 15,
  TrailerLf: 16,
  FinalLf: 17,
  Done: 18
} as const
type State = typeof S[keyof typeof S]

const MAX_CHUNK = Number.MAX_SAFE_INTEGER
export const CHUNKED_NEED_MORE = -1
export const CHUNKED_REFUSED = -2

/**
 * Follows a chunked body (RFC 9112 §7.1) byte by byte where it must (sizes, extensions,
 * trailers) and skips chunk data in one step, to learn where the message ends without
 * re-framing it: the bytes are passed on as they came. Strict: hex sizes up to 2^53, extensions
 * only as `;name`, `;name=token` or `;name="quoted"` with no whitespace, CRLF everywhere,
 * trailer lines as strict as header lines and bounded in size.
 */
export class ChunkedTracker {
  /** Chunk data spans, for callers that need the decoded body (tests, the fuzz oracle). */
  onData: ((buf: Buffer, start: number, end: number) => void) | undefined
  reason = ''
  /** Decoded body bytes so far. */
  bodyBytes = 0
  #s: State = S.SizeFirst
  #size = 0
  #left = 0
  #trailerBytes = 0
  #trailers = 0
  readonly #maxTrailerBytes: number
  readonly #maxTrailers: number

  constructor (maxTrailerBytes: number, maxTrailers: number) {
    this.#maxTrailerBytes = maxTrailerBytes
    this.#maxTrailers = maxTrailers
  }

  reset (): void {
    this.#s = S.SizeFirst
    this.#size = 0
    this.#left = 0
    this.#trailerBytes = 0
    this.#trailers = 0
    this.bodyBytes = 0
    this.reason = ''
  }

  get done (): boolean { return this.#s === S.Done }

  /** Returns the offset just after the body's last byte, CHUNKED_NEED_MORE, or CHUNKED_REFUSED (`reason`). */
  feed (buf: Buffer, start: number, end: number): number {
    let p = start
    while (p < end) {
      const c = buf[p] as number
      switch (this.#s) {
        case S.Data: {
          const n = Math.min(this.#left, end - p)
          this.onData?.(buf, p, p + n)
          this.bodyBytes += n
          this.#left -= n
          p += n
          if (this.#left === 0) this.#s = S.DataCr
          continue
        }
        case S.SizeFirst:
        case S.Size:
          if (HEX[c] !== 255) {
            this.#size = this.#size * 16 + (HEX[c] as number)
            if (this.#size > MAX_CHUNK) return this.#refuse('chunk size too large')
            this.#s = S.Size
          } else if (this.#s === S.SizeFirst) {
            return this.#refuse('invalid chunk size')
          } else if (c === 0x3b /* ; */) {
            this.#s = S.ExtNameFirst
          } else if (c === CR) {
            this.#s = S.SizeLf
          } else {
            return this.#refuse('invalid chunk size')
          }
          break
        case S.ExtNameFirst:
          if (TOKEN[c] !== 1) return this.#refuse('invalid chunk extension')
          this.#s = S.ExtName
          break
        case S.ExtName:
        case S.ExtToken:
        case S.ExtAfterQuote:
          if (TOKEN[c] === 1 && this.#s !== S.ExtAfterQuote) break
          if (c === 0x3d /* = */ && this.#s === S.ExtName) this.#s = S.ExtValueFirst
          else if (c === 0x3b) this.#s = S.ExtNameFirst
          else if (c === CR) this.#s = S.SizeLf
          else return this.#refuse('invalid chunk extension')
          break
        case S.ExtValueFirst:
          if (c === 0x22 /* " */) this.#s = S.ExtQuoted
          else if (TOKEN[c] === 1) this.#s = S.ExtToken
          else return this.#refuse('invalid chunk extension')
          break
        case S.ExtQuoted:
          if (c === 0x22) this.#s = S.ExtAfterQuote
          else if (c === 0x5c /* \ */) this.#s = S.ExtQuotedEscape
          else if (QDTEXT[c] !== 1) return this.#refuse('invalid chunk extension')
          break
        case S.ExtQuotedEscape:
          if (c !== HTAB && c !== SP && QDTEXT[c] !== 1 && c !== 0x22) return this.#refuse('invalid chunk extension')
          this.#s = S.ExtQuoted
          break
        case S.SizeLf:
          if (c !== LF) return this.#refuse('bare CR in chunk size line')
          this.#left = this.#size
          this.#size = 0
          this.#s = this.#left === 0 ? S.TrailerStart : S.Data
          break
        case S.DataCr:
          if (c !== CR) return this.#refuse('chunk data longer than its size')
          this.#s = S.DataLf
          break
        case S.DataLf:
          if (c !== LF) return this.#refuse('bare CR after chunk data')
          this.#s = S.SizeFirst
          break
        case S.TrailerStart:
          if (c === CR) { this.#s = S.FinalLf; break }
          if (++this.#trailers > this.#maxTrailers) return this.#refuse('too many trailer fields')
          if (TOKEN[c] !== 1) return this.#refuse('invalid trailer field')
          this.#s = S.TrailerName
          break
        case S.TrailerName:
          if (c === COLON) this.#s = S.TrailerValue
          else if (TOKEN[c] !== 1) return this.#refuse('invalid trailer field')
          break
        case S.TrailerValue:
          if (c === CR) this.#s = S.TrailerLf
          else if (FIELD_VALUE[c] !== 1) return this.#refuse('invalid trailer field')
          break
        case S.TrailerLf:
          if (c !== LF) return this.#refuse('bare CR in trailer')
          this.#s = S.TrailerStart
          break
        case S.FinalLf:
          if (c !== LF) return this.#refuse('bare CR after trailers')
          this.#s = S.Done
          return p + 1
        case S.Done:
          return p
      }
      if (this.#s >= S.TrailerStart && ++this.#trailerBytes > this.#maxTrailerBytes) return this.#refuse('trailers too large')
      p++
    }
    return CHUNKED_NEED_MORE
  }

  #refuse (reason: string): number {
    this.reason = reason
    return CHUNKED_REFUSED
  }
}
