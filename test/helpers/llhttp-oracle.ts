import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { Duplex } from 'node:stream'
import { RequestFramer, Step } from '../../src/engine/index.js'

/** One request as a parser saw it. `complete`: its body ended; `upgrade`: the stream became a tunnel after it. */
export interface Framed {
  /** node's request: its `complete` is set by the parser itself, before any stream event. */
  req?: IncomingMessage
  method: string
  url: string
  headers: string[]
  body: Buffer[]
  complete: boolean
  upgrade: boolean
}

export interface Framing { messages: Framed[], error: string | undefined }

const LIMITS = { maxHeaderSize: 8192, maxHeaders: 100 }

/** The engine's framing of a stream fed in `pieces`, stopping where a connection would stop reading. */
export function engineFraming (pieces: readonly Buffer[]): Framing {
  const f = new RequestFramer(LIMITS)
  const messages: Framed[] = []
  let cur: Framed | undefined
  f.chunks.onData = (buf, s, e) => cur?.body.push(Buffer.from(buf.subarray(s, e)))
  for (const piece of pieces) {
    let pos = 0
    while (pos < piece.length) {
      pos = f.next(piece, pos, piece.length)
      switch (f.step) {
        case Step.Error: return { messages, error: `${f.status} ${f.reason}` }
        case Step.Head: {
          const h = f.head
          cur = { method: h.method, url: h.target, headers: h.headers, body: [], complete: false, upgrade: h.upgrade }
          messages.push(cur)
          break
        }
        case Step.Body:
          if (!f.head.chunked && cur !== undefined) cur.body.push(Buffer.from(piece.subarray(f.spanStart, f.spanEnd)))
          break
      }
      if (f.messageDone && cur !== undefined) {
        cur.complete = true
        // A connection stops reading requests after a close or an upgrade.
        if (cur.upgrade || !f.head.keepAlive) return { messages, error: undefined }
      }
    }
  }
  return { messages, error: undefined }
}

/**
 * llhttp as node:http runs it: an http.Server fed through an injected Duplex (documented for
 * the 'connection' event), so no socket and no process.binding. Host is not required (that is
 * node's check, not the parser's); unknown Expect values are served like any request.
 */
export class LlhttpOracle {
  readonly #server: http.Server
  readonly #cases = new WeakMap<Duplex, Framing>()

  constructor () {
    this.#server = http.createServer({ requireHostHeader: false, maxHeaderSize: 16384, insecureHTTPParser: false })
    const serve = (req: IncomingMessage, res: ServerResponse): void => {
      const c = this.#cases.get(req.socket as unknown as Duplex)
      const m: Framed = { req, method: req.method ?? '', url: req.url ?? '', headers: req.rawHeaders, body: [], complete: false, upgrade: false }
      c?.messages.push(m)
      req.on('data', (b: Buffer) => m.body.push(b))
      req.on('end', () => { m.complete = true; res.end() })
    }
    this.#server.on('request', serve)
    this.#server.on('checkContinue', serve)
    this.#server.on('checkExpectation', serve)
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
      this.#cases.get(socket)?.messages.push({ method: req.method ?? '', url: req.url ?? '', headers: req.rawHeaders, body: [], complete: true, upgrade: true })
      socket.destroy()
    })
    this.#server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
      const c = this.#cases.get(socket)
      if (c !== undefined) c.error = 'CONNECT'
      socket.destroy()
    })
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      const c = this.#cases.get(socket)
      if (c !== undefined) c.error ??= err.code ?? err.message
      // After the queued 'data'/'end' events of requests the parser already completed.
      setImmediate(() => socket.destroy())
    })
  }

  /** Feeds the pieces and resolves once node has closed the connection. */
  async framing (pieces: readonly Buffer[]): Promise<Framing> {
    const result: Framing = { messages: [], error: undefined }
    const conn = new Duplex({
      read () {},
      write (_chunk, _enc, cb) { cb() },
      final (cb) { cb() }
    })
    this.#cases.set(conn, result)
    const closed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('oracle connection did not close')), 5000)
      conn.once('close', () => { clearTimeout(timer); resolve() })
    })
    this.#server.emit('connection', conn)
    for (const p of pieces) conn.push(p)
    conn.push(null)
    await closed
    for (const m of result.messages) if (m.req !== undefined) m.complete = m.req.complete
    return result
  }

  close (): void { this.#server.close() }
}

const text = (m: Framed): string => JSON.stringify({ method: m.method, url: m.url, headers: m.headers, upgrade: m.upgrade })

/**
 * Why the engine's framing is not allowed, or undefined: every head the engine accepted must be
 * a head llhttp accepted at the same position, identically; every body the engine completed,
 * llhttp completed with the same bytes.
 */
export function disagreement (engine: Framing, oracle: Framing): string | undefined {
  for (let i = 0; i < engine.messages.length; i++) {
    const e = engine.messages[i] as Framed
    const o = oracle.messages[i]
    if (o === undefined) return `engine accepted message ${i} that llhttp refused (${oracle.error ?? 'no error, stream ended'}): ${text(e)}`
    if (text(e) !== text(o)) return `message ${i} framed differently:\n engine ${text(e)}\n llhttp ${text(o)}`
    if (e.complete && !e.upgrade) {
      if (!o.complete) return `engine completed message ${i}, llhttp did not (${oracle.error ?? ''})`
      const eb = Buffer.concat(e.body)
      const ob = Buffer.concat(o.body)
      if (!eb.equals(ob)) return `message ${i} body differs: engine ${JSON.stringify(eb.toString('latin1'))} llhttp ${JSON.stringify(ob.toString('latin1'))}`
    }
  }
  return undefined
}
