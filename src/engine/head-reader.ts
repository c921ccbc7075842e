import { COLON, CR, FIELD_VALUE, HTAB, LF, SP, TOKEN, bytesEqualLower, latin1 } from './chars.js'

export interface HeadLimits {
  /** Bytes from the first byte of the start line through the empty line ending the head. */
  maxHeaderSize: number
  /** Field lines per head. */
  maxHeaders: number
}

const TERMINATOR = Buffer.from('\r\n\r\n', 'latin1')

/** Result codes of `HeadReader.read` besides an offset: more bytes needed, or the head is refused (see `status`). */
export const NEED_MORE = -1
export const REFUSED = -2

/**
 * The part every HTTP/1 head parser shares: finds where a head ends (copying only a head that
 * arrives split across reads, into one buffer allocated for it), then walks the field lines
 * strictly (RFC 9112 §5: no obs-fold, no whitespace before the colon, no bare CR or LF, no
 * control characters) and hands each line to `field`. Subclasses parse the start line and
 * remember the fields that frame the message.
 */
export abstract class HeadReader {
  /** Status to answer when `read` refused the head (400, 431, 505 ... or 502 for responses). */
  status = 0
  reason = ''
  /** Raw field lines of the last head: name, value, name, value ... (like node's rawHeaders). */
  headers: string[] = []
  protected readonly limits: HeadLimits
  /** What a malformed head is answered with: 400 from a client, 502 when an upstream sent it. */
  protected readonly badStatus: number
  #pending: Buffer | undefined
  #pendingLen = 0

  constructor (limits: HeadLimits, badStatus = 400) {
    this.limits = limits
    this.badStatus = badStatus
  }

  /** A head is partly buffered (for idle/slow-head timers: a connection mid-head is not idle). */
  get midHead (): boolean { return this.#pendingLen > 0 }

  /**
   * Feeds bytes. Returns the offset in `buf` just after the head when one completed (its parts
   * are then on `this`), NEED_MORE when all bytes were taken and the head is still open, or
   * REFUSED (with `status` and `reason`).
   */
  read (buf: Buffer, start: number, end: number): number {
    if (this.#pendingLen === 0) {
      start = this.skipLeading(buf, start, end)
      if (start < 0) return this.refuse(this.badStatus, 'bare CR before the start line')
      if (start === end) return NEED_MORE
      const found = buf.indexOf(TERMINATOR, start)
      if (found >= 0 && found + 4 <= end) {
        if (found + 4 - start > this.limits.maxHeaderSize) return this.refuse(this.#tooLarge, 'head too large')
        return this.#parse(buf, start, found + 4) ? found + 4 : REFUSED
      }
      return this.#stash(buf, start, end, 0)
    }
    const from = this.#pendingLen
    return this.#stash(buf, start, end, from)
  }

  /** Drops a partly read head (connection reuse after an error, or a parser going back to a pool). */
  reset (): void {
    this.#pending = undefined
    this.#pendingLen = 0
  }

  /** Requests may be preceded by empty lines (RFC 9112 §2.2); responses may not. -1 refuses. */
  protected skipLeading (_buf: Buffer, start: number, _end: number): number { return start }

  /** Parses the start line ending at `lineEnd` (the CR of its CRLF); false to refuse. */
  protected abstract startLine (buf: Buffer, start: number, lineEnd: number): boolean
  /** Clears per-head state before the start line is parsed. */
  protected abstract begin (): void
  /** Sees one field line; false to refuse. Name bytes are already checked to be a token. */
  protected abstract field (buf: Buffer, nameStart: number, nameEnd: number, valueStart: number, valueEnd: number): boolean
  /** After the last field line: checks the combination of fields; false to refuse. */
  protected abstract end (headBytes: number): boolean

  get #tooLarge (): number { return this.badStatus === 400 ? 431 : this.badStatus }

  protected refuse (status: number, reason: string): number {
    this.status = status
    this.reason = reason
    this.reset()
    return REFUSED
  }

  #stash (buf: Buffer, start: number, end: number, from: number): number {
    const cap = this.limits.maxHeaderSize
    if (from === 0 && end - start > cap) return this.refuse(this.#tooLarge, 'head too large')
    const bareLf = bareLineEnd(buf, start, end, from === 0 ? -1 : (this.#pending as Buffer)[from - 1] as number)
    this.#pending ??= Buffer.allocUnsafe(cap)
    const pending = this.#pending
    const n = Math.min(end - start, cap - from)
    buf.copy(pending, from, start, start + n)
    this.#pendingLen = from + n
    const found = pending.indexOf(TERMINATOR, Math.max(0, from - 3))
    if (found >= 0 && found + 4 <= this.#pendingLen) {
      const used = found + 4 - from
      this.#pendingLen = 0
      const ok = this.#parse(pending, 0, found + 4)
      this.#pending = undefined
      return ok ? start + used : REFUSED
    }
    // Without this a head ended by bare LFs would wait for the head timeout instead of a 400.
    if (bareLf) return this.refuse(this.badStatus, 'bare LF or CR in head')
    if (this.#pendingLen >= cap) return this.refuse(this.#tooLarge, 'head too large')
    return NEED_MORE
  }

  /** Parses a complete head `buf[start, end)` (end is just after CRLFCRLF). */
  #parse (buf: Buffer, start: number, end: number): boolean {
    this.begin()
    this.headers = []
    const lineEnd = buf.indexOf(CR, start)
    // The terminator guarantees a CR; it must be followed by LF and the line must hold no LF.
    if (buf[lineEnd + 1] !== LF || !this.startLine(buf, start, lineEnd)) {
      if (this.status === 0) this.refuse(this.badStatus, 'malformed start line')
      return false
    }
    const stop = end - 2
    let p = lineEnd + 2
    let count = 0
    while (p < stop) {
      if (++count > this.limits.maxHeaders) { this.refuse(this.#tooLarge, 'too many header fields'); return false }
      const c0 = buf[p] as number
      if (c0 === SP || c0 === HTAB) { this.refuse(this.badStatus, 'obsolete line folding'); return false }
      const nameStart = p
      while (TOKEN[buf[p] as number] === 1) p++
      if (p === nameStart || buf[p] !== COLON) { this.refuse(this.badStatus, 'malformed header field name'); return false }
      const nameEnd = p++
      while (buf[p] === SP || buf[p] === HTAB) p++
      const valueStart = p
      while (FIELD_VALUE[buf[p] as number] === 1) p++
      if (buf[p] !== CR || buf[p + 1] !== LF) { this.refuse(this.badStatus, 'invalid character in header field'); return false }
      let valueEnd = p
      while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--
      p += 2
      this.headers.push(latin1(buf, nameStart, nameEnd), latin1(buf, valueStart, valueEnd))
      if (!this.field(buf, nameStart, nameEnd, valueStart, valueEnd)) return false
    }
    return this.end(end - start)
  }
}

/** True if [start, end) holds an LF not preceded by CR, or a CR followed by anything but LF. */
function bareLineEnd (buf: Buffer, start: number, end: number, before: number): boolean {
  for (let i = start; i < end; i++) {
    const c = buf[i] as number
    if (c === LF) {
      const prev = i === start ? before : buf[i - 1] as number
      if (prev !== CR) return true
    } else if (c === CR && i + 1 < end && buf[i + 1] !== LF) {
      return true
    }
  }
  return false
}

/** Reads 1*DIGIT as a number; -1 when empty, not all digits, or beyond 2^53. */
export function decimal (buf: Buffer, start: number, end: number): number {
  if (start === end || end - start > 15) return -1
  let n = 0
  for (let i = start; i < end; i++) {
    const d = (buf[i] as number) - 0x30
    if (d < 0 || d > 9) return -1
    n = n * 10 + d
  }
  return n
}

/** Bits of `connectionOptions`. */
export const CONN_CLOSE = 1
export const CONN_KEEP_ALIVE = 2
export const CONN_UPGRADE = 4

/** The close / keep-alive / upgrade options named in a Connection field value (comma list, OWS trimmed). */
export function connectionOptions (buf: Buffer, start: number, end: number): number {
  let bits = 0
  let s = start
  for (let i = start; i <= end; i++) {
    if (i < end && buf[i] !== 0x2c) continue
    let a = s
    let b = i
    while (a < b && (buf[a] === SP || buf[a] === HTAB)) a++
    while (b > a && (buf[b - 1] === SP || buf[b - 1] === HTAB)) b--
    if (bytesEqualLower(buf, a, b, 'close')) bits |= CONN_CLOSE
    else if (bytesEqualLower(buf, a, b, 'keep-alive')) bits |= CONN_KEEP_ALIVE
    else if (bytesEqualLower(buf, a, b, 'upgrade')) bits |= CONN_UPGRADE
    s = i + 1
  }
  return bits
}

/** True when the last element of a comma list is `chunked` (Transfer-Encoding's final coding). */
export function lastTokenIsChunked (buf: Buffer, start: number, end: number): boolean {
  let b = end
  while (b > start && (buf[b - 1] === SP || buf[b - 1] === HTAB)) b--
  let a = b
  while (a > start && buf[a - 1] !== 0x2c) a--
  while (a < b && (buf[a] === SP || buf[a] === HTAB)) a++
  return bytesEqualLower(buf, a, b, 'chunked')
}
