import type { Socket } from 'node:net'
import { failureReason, failureStatus, tunnel } from '../router/index.js'
import { NEED_MORE, REFUSED } from './head-reader.js'
import { ResponseHeadParser } from './response-head.js'
import type { OriginSpec, UpstreamPools } from './upstream-pool.js'

export interface UpgradeRequest {
  client: Socket
  spec: OriginSpec
  /** The request head as it goes upstream (with Connection: upgrade and Upgrade). */
  head: string
  /** Bytes the client sent after its head: written upstream once the upgrade is accepted. */
  early: Buffer | undefined
  headersTimeoutMs: number
  idleTimeoutMs: number
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
 * node path: both close together, idle ones after the route's idle timeout). Anything but a
 * 101 is a 502, as on the node path. Nothing of the request is kept once the tunnel is open.
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
    if (!client.destroyed) client.end(`HTTP/1.1 ${status} ${status === 504 ? 'Gateway Timeout' : 'Bad Gateway'}\r\ncontent-length: 0\r\nconnection: close\r\nx-request-id: ${r.rid}\r\n\r\n`)
    r.done(status, reason)
  }
  const onClientClose = (): void => { if (!finished) { finished = true; up?.destroy(); r.done(499, 'client closed the connection') } }
  client.once('close', onClientClose)
  const parser = new ResponseHeadParser(HEAD_LIMITS)
  r.pools.openUnpooled(r.spec, (err, lease) => {
    if (err !== undefined || lease === undefined) {
      const e = err ?? new Error('no connection')
      const code = (e as NodeJS.ErrnoException).code ?? ''
      fail(failureStatus(code), failureReason(code, e))
      return
    }
    const s = up = lease.socket
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
        if (parser.statusCode >= 200) { fail(502, `upstream answered the upgrade with ${parser.statusCode}`); return }
        pos = end
      }
    }
    const splice = (rest: Buffer): void => {
      finished = true
      s.removeListener('data', onData)
      s.removeListener('error', onError)
      s.removeListener('close', onClose)
      s.setTimeout(0)
      s.removeListener('timeout', onTimeout)
      client.removeListener('close', onClientClose)
      let head = `HTTP/1.1 101 ${parser.statusText === '' ? 'Switching Protocols' : parser.statusText}\r\n`
      const h = parser.headers
      for (let i = 0; i < h.length; i += 2) head += `${h[i] as string}: ${h[i + 1] as string}\r\n`
      client.write(head + '\r\n', 'latin1')
      if (rest.length > 0) client.write(rest)
      if (r.early !== undefined && r.early.length > 0) s.write(r.early)
      tunnel(client, s, r.idleTimeoutMs, r.tunnels)
      r.done(101)
    }
    s.on('data', onData)
    s.on('error', onError)
    s.on('close', onClose)
    s.setTimeout(r.headersTimeoutMs, onTimeout)
    s.write(r.head, 'latin1')
  })
}
