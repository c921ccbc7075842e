import { CR, LF, SP, TARGET, TOKEN, bytesEqualLower, latin1 } from './chars.js'
import { CONN_CLOSE, CONN_KEEP_ALIVE, CONN_UPGRADE, HeadReader, connectionOptions, decimal, type HeadLimits } from './head-reader.js'

/**
 * Methods the engine accepts: the ones llhttp (node's parser, the differential oracle) knows,
 * minus CONNECT (portico is no forward proxy) and PRI (the HTTP/2 preface).
 */
const METHODS: ReadonlyMap<string, string> = new Map([
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY',
  'ACL', 'BIND', 'CHECKOUT', 'COPY', 'LINK', 'LOCK', 'M-SEARCH', 'MERGE', 'MKACTIVITY', 'MKCALENDAR', 'MKCOL',
  'MOVE', 'NOTIFY', 'PROPFIND', 'PROPPATCH', 'PURGE', 'REBIND', 'REPORT', 'SEARCH', 'SOURCE', 'SUBSCRIBE',
  'UNBIND', 'UNLINK', 'UNLOCK', 'UNSUBSCRIBE'
].map(m => [m, m]))

/**
 * Incremental, strict request head parser (RFC 9112 §2–§6). One per connection; after a head
 * completed, its parts are the fields below until the next `read`. Anything outside the grammar
 * is refused with 400 (431 for size and count limits, 505 for other HTTP versions), and the
 * connection must then be closed: the engine never guesses where a refused message ends.
 */
export class RequestHeadParser extends HeadReader {
  method = ''
  target = ''
  /** 0 or 1 (HTTP/1.0, HTTP/1.1). */
  minor = 1
  /** Content-Length, or -1 when absent. */
  contentLength = -1
  chunked = false
  /** The connection stays open after this exchange (version default, Connection: close / keep-alive). */
  keepAlive = true
  /** Connection: upgrade with an Upgrade field: after this head the connection is a tunnel. */
  upgrade = false
  expectContinue = false
  host: string | undefined = undefined
  headBytes = 0
  #hosts = 0
  #conn = 0
  #upgradeField = false
  #te = false

  constructor (limits: HeadLimits) {
    super(limits)
  }

  /** Message body framing of the last head: 'chunked', or the number of body bytes (0: none). */
  get bodyLength (): number { return this.chunked ? Number.POSITIVE_INFINITY : Math.max(0, this.contentLength) }

  /** An empty line before the request line may arrive split after its CR. */
  #leadingCr = false

  protected override skipLeading (buf: Buffer, start: number, end: number): number {
    while (start < end) {
      const c = buf[start]
      if (this.#leadingCr) {
        if (c !== LF) return -1
        this.#leadingCr = false
      } else if (c === CR) {
        this.#leadingCr = true
      } else {
        break
      }
      start++
    }
    return start
  }

  override reset (): void {
    super.reset()
    this.#leadingCr = false
  }

  protected begin (): void {
    this.status = 0
    this.reason = ''
    this.contentLength = -1
    this.chunked = false
    this.upgrade = false
    this.expectContinue = false
    this.host = undefined
    this.#hosts = 0
    this.#conn = 0
    this.#upgradeField = false
    this.#te = false
  }

  protected startLine (buf: Buffer, start: number, lineEnd: number): boolean {
    let p = start
    while (TOKEN[buf[p] as number] === 1) p++
    if (buf[p] !== SP || p === start) return false
    const method = p - start === 3 && buf[start] === 0x47 && buf[start + 1] === 0x45 && buf[start + 2] === 0x54 ? 'GET' : METHODS.get(latin1(buf, start, p))
    if (method === undefined) { this.refuse(p - start > 20 ? 400 : 501, 'unknown method'); return false }
    const targetStart = ++p
    while (TARGET[buf[p] as number] === 1) p++
    if (buf[p] !== SP || p === targetStart || !targetForm(buf, targetStart, p)) return false
    const targetEnd = p++
    if (lineEnd - p !== 8 || buf[p] !== 0x48 || buf[p + 1] !== 0x54 || buf[p + 2] !== 0x54 || buf[p + 3] !== 0x50 ||
      buf[p + 4] !== 0x2f || buf[p + 6] !== 0x2e) return false
    const major = (buf[p + 5] as number) - 0x30
    const minor = (buf[p + 7] as number) - 0x30
    if (major < 0 || major > 9 || minor < 0 || minor > 9) return false
    if (major !== 1 || minor > 1) { this.refuse(505, 'HTTP version not supported'); return false }
    this.method = method
    this.target = latin1(buf, targetStart, targetEnd)
    this.minor = minor
    return true
  }

  protected field (buf: Buffer, ns: number, ne: number, vs: number, ve: number): boolean {
    switch (ne - ns) {
      case 4:
        if (bytesEqualLower(buf, ns, ne, 'host')) {
          if (++this.#hosts > 1) { this.refuse(400, 'repeated Host'); return false }
          this.host = this.headers[this.headers.length - 1]
        }
        return true
      case 6:
        if (bytesEqualLower(buf, ns, ne, 'expect')) this.expectContinue = bytesEqualLower(buf, vs, ve, '100-continue')
        return true
      case 7:
        // llhttp ignores an empty Upgrade field, so must the engine (else the two frame differently).
        if (bytesEqualLower(buf, ns, ne, 'upgrade')) this.#upgradeField ||= ve > vs
        return true
      case 10:
        if (bytesEqualLower(buf, ns, ne, 'connection')) this.#conn |= connectionOptions(buf, vs, ve)
        return true
      case 14:
        if (bytesEqualLower(buf, ns, ne, 'content-length')) {
          if (this.contentLength !== -1) { this.refuse(400, 'repeated Content-Length'); return false }
          this.contentLength = decimal(buf, vs, ve)
          if (this.contentLength < 0) { this.refuse(400, 'invalid Content-Length'); return false }
        }
        return true
      case 17:
        if (bytesEqualLower(buf, ns, ne, 'transfer-encoding')) {
          // Only a lone `chunked`: any other coding would have to be decoded to find the end.
          if (this.#te || !bytesEqualLower(buf, vs, ve, 'chunked')) { this.refuse(400, 'unsupported Transfer-Encoding'); return false }
          this.#te = true
        }
        return true
    }
    return true
  }

  protected end (headBytes: number): boolean {
    this.headBytes = headBytes
    if (this.#te) {
      if (this.contentLength !== -1) { this.refuse(400, 'both Content-Length and Transfer-Encoding'); return false }
      if (this.minor === 0) { this.refuse(400, 'Transfer-Encoding in HTTP/1.0'); return false }
      this.chunked = true
    }
    this.keepAlive = (this.#conn & CONN_CLOSE) === 0 && (this.minor === 1 || (this.#conn & CONN_KEEP_ALIVE) !== 0)
    if ((this.#conn & CONN_UPGRADE) !== 0 && this.#upgradeField) {
      if (this.chunked || this.contentLength > 0) { this.refuse(400, 'upgrade request with a body'); return false }
      this.upgrade = true
    }
    return true
  }
}

/**
 * The target forms a non-CONNECT request may use (RFC 9112 §3.2): origin-form (`/...`),
 * absolute-form (`scheme://...`, scheme letters only) or a lone `*`. Authority-form is CONNECT's.
 */
function targetForm (buf: Buffer, start: number, end: number): boolean {
  const c = buf[start] as number
  if (c === 0x2f /* / */) return true
  if (c === 0x2a /* * */) return end - start === 1
  let p = start
  while (p < end && (((buf[p] as number) | 0x20) >= 0x61 && ((buf[p] as number) | 0x20) <= 0x7a)) p++
  if (p === start || end - p < 4 || buf[p] !== 0x3a || buf[p + 1] !== 0x2f || buf[p + 2] !== 0x2f) return false
  // The authority: a host name, IPv4 or [IPv6] and a port; no userinfo, nothing to percent-decode.
  const hostStart = p + 3
  p = hostStart
  while (p < end && AUTHORITY[buf[p] as number] === 1) p++
  return p > hostStart && (p === end || buf[p] === 0x2f || buf[p] === 0x3f /* ? */)
}

const AUTHORITY = (() => {
  const t = new Uint8Array(256)
  for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]') t[c.charCodeAt(0)] = 1
  return t
})()
