import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { HeaderPairs, Reply } from '../router/index.js'

/** What a reply needs from the connection it answers on. */
export interface ReplySink {
  readonly socket: Socket
  /** The request's method (HEAD answers carry no body bytes). */
  readonly method: string
  /** HTTP/1.0 clients get no chunked framing: a body of unknown length is delimited by closing. */
  readonly http10: boolean
  /** Decided when the head goes out: the connection closes after this answer. */
  closeAfter (status: number): boolean
  /** The answer is complete (`bytes`: body bytes written). */
  replied (status: number, bytes: number, close: boolean): void
}

/** Field values portico writes itself come from config and templates: never a line break in a head. */
const BAD_VALUE = /[\r\n\0]/

let dateSecond = 0
let dateValue = ''
/** The Date field, formatted once per second. */
function httpDate (): string {
  const now = Date.now()
  const s = Math.floor(now / 1000)
  if (s !== dateSecond) { dateSecond = s; dateValue = new Date(now).toUTCString() }
  return dateValue
}

/**
 * `Reply` on an engine connection: portico's own answers (errors, redirects, fixed answers,
 * preflights, ACME) written straight to the client socket. The head states Content-Length when
 * the answer gave one, else chunked framing (HTTP/1.1) or a close-delimited body (HTTP/1.0);
 * HEAD, 204 and 304 answers carry no body bytes; `connection: close` when the connection ends
 * after it. The head waits for the first body bytes so both leave in one write.
 */
export class ClientReply implements Reply {
  readonly #sink: ReplySink
  #head: string | undefined
  #headSent = false
  #status = 0
  #chunked = false
  #bodiless = false
  #close = false
  #bytes = 0
  #ended = false
  #closeFns: Array<() => void> | undefined

  constructor (sink: ReplySink) {
    this.#sink = sink
  }

  get headSent (): boolean { return this.#headSent }
  get ended (): boolean { return this.#ended }

  head (status: number, headers: HeaderPairs): void {
    if (this.#headSent) throw new Error('response head already sent')
    const sink = this.#sink
    let out = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`
    let length = false
    for (const [k, v] of headers) {
      if (BAD_VALUE.test(v) || BAD_VALUE.test(k)) throw new Error(`invalid character in the ${k} field`)
      if (k === 'content-length') length = true
      out += `${k}: ${v}\r\n`
    }
    this.#status = status
    const noBody = status === 204 || status === 304 || status < 200
    this.#bodiless = noBody || sink.method === 'HEAD'
    this.#close = sink.closeAfter(status)
    if (!length && !noBody) {
      if (sink.http10) this.#close = true
      else { this.#chunked = true; out += 'transfer-encoding: chunked\r\n' }
    }
    out += `date: ${httpDate()}\r\n`
    if (this.#close) out += 'connection: close\r\n'
    else if (sink.http10) out += 'connection: keep-alive\r\n'
    this.#head = out + '\r\n'
    this.#headSent = true
  }

  write (chunk: Buffer): boolean {
    if (this.#head === undefined && !this.#headSent) this.head(200, [])
    if (this.#bodiless || chunk.length === 0) return this.#flush()
    const s = this.#sink.socket
    this.#bytes += chunk.length
    s.cork()
    this.#flush()
    if (this.#chunked) s.write(`${chunk.length.toString(16)}\r\n`, 'latin1')
    let ok = s.write(chunk)
    if (this.#chunked) ok = s.write('\r\n', 'latin1')
    s.uncork()
    return ok
  }

  end (chunk?: Buffer): void {
    if (this.#ended) return
    const s = this.#sink.socket
    s.cork()
    if (chunk !== undefined) this.write(chunk)
    else this.#flush()
    if (this.#chunked && !this.#bodiless) s.write('0\r\n\r\n', 'latin1')
    s.uncork()
    this.#ended = true
    this.#sink.replied(this.#status, this.#bytes, this.#close)
  }

  onDrain (fn: () => void): void { this.#sink.socket.once('drain', fn) }

  onClose (fn: () => void): void { (this.#closeFns ??= []).push(fn) }

  destroy (): void {
    if (this.#ended) return
    this.#ended = true
    this.#sink.socket.destroy()
  }

  /** The client connection closed: an unfinished answer tells its writer. */
  closed (): void {
    if (this.#ended) return
    this.#ended = true
    for (const fn of this.#closeFns ?? []) fn()
  }

  /** Writes the pending head, if any. */
  #flush (): boolean {
    const head = this.#head
    if (head === undefined) return true
    this.#head = undefined
    return this.#sink.socket.write(head, 'latin1')
  }
}
