import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import { failureReason, failureStatus, tunnel, type ResponseEditor, type UpgradeOrigins } from '../router/index.js'
import { NEED_MORE, REFUSED } from './head-reader.js'
import { Framing, ResponseHeadParser } from './response-head.js'
import { ChunkedTracker, CHUNKED_NEED_MORE, CHUNKED_REFUSED } from './chunked.js'
import { clientHead, editedHead, upgradeHead } from './client-head.js'
import type { OriginSpec, UpstreamPools } from './upstream-pool.js'

export interface UpgradeRequest {
  client: Socket
  /** The candidates, in order (a connection that never opened moves on to the next, as for requests). */
  origins: UpgradeOrigins
  /** How to reach a candidate, and the request head as it goes there (with Connection: upgrade and Upgrade). */
  target: (origin: string) => { spec: OriginSpec, head: string }
  /** Bytes the client sent after its head: written upstream once the upgrade is accepted. */
  early: Buffer | undefined
  headersTimeoutMs: number
  idleTimeoutMs: number
  /** The route's response edits (UAP cookie scoping), for the 101 head and a declined upgrade's answer alike. */
  edit: ResponseEditor | undefined
  rid: string
  tunnels: ((delta: number) => void) | undefined
  /** Opens the tunnel's own upstream connection (outside the pool, with its connect hook). */
  pools: UpstreamPools
  /** For the access entry: 101, or the status portico answered with. */
  done: (status: number, error?: string) => void
}

const HEAD_LIMITS = { maxHeaderSize: 65536, maxHeaders: 256 }

/**
 * An HTTP/1.1 upgrade (websockets, any 101) on its own upstream connection (never pooled: a
 * tunnel must not hold a pool slot): the head goes out in one write, the upstream's 101 head
 * is passed on, and the two sockets become a spliced pair (router's `tunnel`, the same as the
 * node path: both close together, idle ones after the route's idle timeout). Any other final
 * answer (a declined upgrade) is passed on as the node path does, then both connections close.
 * Nothing of the request is kept once the tunnel is open.
 */
export function upgrade (r: UpgradeRequest): void {
  const client = r.client
  let up: Socket | undefined
  let finished = false
  const fail = (status: number, reason: string): void => {
    if (finished) return
    finished = true
    client.removeListener('close', onClientClose)
    up?.destroy()
    const text = STATUS_CODES[status] ?? 'Bad Gateway'
    if (!client.destroyed) client.end(`HTTP/1.1 ${status} ${text}\r\ncontent-length: 0\r\nconnection: close\r\nx-request-id: ${r.rid}\r\n\r\n`)
    r.done(status, reason)
  }
  const onClientClose = (): void => { if (!finished) { finished = true; up?.destroy(); r.done(499, 'client closed the connection') } }
  client.once('close', onClientClose)
  const parser = new ResponseHeadParser(HEAD_LIMITS)
  const open = (origin: string): void => {
    const { spec, head } = r.target(origin)
    r.pools.openUnpooled(spec, (err, lease) => { if (err !== undefined || lease === undefined) failed(err); else connected(lease.socket, head) })
  }
  const failed = (err: Error | undefined): void => {
    const e = err ?? new Error('no connection')
    const code = (e as NodeJS.ErrnoException).code ?? ''
    const next = finished ? undefined : r.origins.failed(code)
    if (next !== undefined) open(next)
    else fail(failureStatus(code), failureReason(code, e))
  }
  const connected = (s: Socket, head: string): void => {
    up = s
    if (finished) { s.destroy(); return }
    const onError = (e: Error): void => fail(502, (e as NodeJS.ErrnoException).code ?? e.message)
    const onClose = (): void => fail(502, 'upstream closed the connection')
    const onTimeout = (): void => fail(504, 'upstream did not answer the upgrade in time')
    const onData = (chunk: Buffer): void => {
      let pos = 0
      for (;;) {
        const end = parser.read(chunk, pos, chunk.length)
        if (end === NEED_MORE) return
        if (end === REFUSED) { fail(502, parser.reason); return }
        if (parser.statusCode === 101) { splice(chunk.subarray(end)); return }
        if (parser.statusCode >= 200) { declined(chunk.subarray(end)); return }
        pos = end
      }
    }
    const settle = (): void => {
      finished = true
      s.removeListener('data', onData)
      s.removeListener('error', onError)
      s.removeListener('close', onClose)
      s.setTimeout(0)
      s.removeListener('timeout', onTimeout)
      client.removeListener('close', onClientClose)
    }
    /**
     * The upstream declined (a 404 for a gone Jupyter kernel, a 401...): its answer is passed on
     * as on the node path, hop-by-hop fields out, then both connections close (it was never a tunnel).
     */
    const declined = (rest: Buffer): void => {
      settle()
      const framing = parser.framing('GET')
      const head = r.edit === undefined
        ? clientHead(parser, framing, { hsts: undefined, close: true })
        : editedHead(parser, framing, { hsts: undefined, close: true, drop: undefined, edit: r.edit })
      client.write(head, 'latin1')
      const body = new DeclinedBody(framing, parser.contentLength)
      const pass = (chunk: Buffer, from: number): void => {
        const end = body.end(chunk, from)
        if (end > from) client.write(chunk.subarray(from, end))
        if (end < 0 || body.complete) { s.destroy(); client.end() }
      }
      s.on('data', (chunk: Buffer) => { pass(chunk, 0) })
      s.on('end', () => { client.end() })
      s.on('error', () => { client.destroy() })
      client.on('close', () => { s.destroy() })
      r.done(parser.statusCode)
      pass(rest, 0)
    }
    const splice = (rest: Buffer): void => {
      settle()
      client.write(upgradeHead(parser, r.edit), 'latin1')
      if (rest.length > 0) client.write(rest)
      if (r.early !== undefined && r.early.length > 0) s.write(r.early)
      tunnel(client, s, r.idleTimeoutMs, r.tunnels)
      r.done(101)
    }
    s.on('data', onData)
    s.on('error', onError)
    s.on('close', onClose)
    s.setTimeout(r.headersTimeoutMs, onTimeout)
    s.write(head, 'latin1')
  }
  open(r.origins.current)
}

/** Where a declined upgrade's body ends in each chunk: its Content-Length, its chunked framing, or the upstream's close. */
class DeclinedBody {
  complete = false
  readonly #framing: Framing
  #left: number
  readonly #chunks: ChunkedTracker | undefined

  constructor (framing: Framing, length: number) {
    this.#framing = framing
    this.#left = length
    this.#chunks = framing === Framing.Chunked ? new ChunkedTracker(HEAD_LIMITS.maxHeaderSize, HEAD_LIMITS.maxHeaders) : undefined
    this.complete = framing === Framing.None || (framing === Framing.Length && length <= 0)
  }

  /** The end of the body's bytes in `chunk` from `from` (-1: the upstream broke the framing). */
  end (chunk: Buffer, from: number): number {
    if (this.complete) return from
    switch (this.#framing) {
      case Framing.Length: {
        const n = Math.min(this.#left, chunk.length - from)
        this.#left -= n
        this.complete = this.#left === 0
        return from + n
      }
      case Framing.Chunked: {
        const r = (this.#chunks as ChunkedTracker).feed(chunk, from, chunk.length)
        if (r === CHUNKED_REFUSED) return -1
        if (r === CHUNKED_NEED_MORE) return chunk.length
        this.complete = true
        return r
      }
      default: return chunk.length
    }
  }
}
