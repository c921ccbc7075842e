import type { Socket } from 'node:net'

export type Parsed<T> = { kind: 'more' } | { kind: 'invalid', reason: string } | (T & { kind: 'header' | 'hello', length: number })

export type Preamble<T> = { ok: true, value: T & { length: number }, all: Buffer, rest: Buffer } | { ok: false, reason: string }

/**
 * Reads from `socket` until `parse` accepts or refuses the bytes so far, with a cap on what is
 * buffered; the caller's deadline (one timer for the whole preamble) destroys a silent client.
 * Resolves with the parse result and the bytes after it (to be replayed), or a reason to close.
 */
export async function readPreamble<T> (socket: Socket, start: Buffer, maxBytes: number, parse: (b: Buffer) => Parsed<T>):
Promise<Preamble<T>> {
  return await new Promise(resolve => {
    let buf = start
    const finish = (r: Preamble<T>): void => {
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('close', onEnd)
      socket.pause()
      resolve(r)
    }
    const check = (): boolean => {
      const r = parse(buf)
      if (r.kind === 'invalid') { finish({ ok: false, reason: r.reason }); return true }
      if (r.kind !== 'more') { finish({ ok: true, value: r, all: buf, rest: buf.subarray(r.length) }); return true }
      if (buf.length >= maxBytes) { finish({ ok: false, reason: `no complete header within ${maxBytes} bytes` }); return true }
      return false
    }
    const onData = (chunk: Buffer): void => {
      // At most the cap plus one read: the parse refuses once the cap is reached without a result.
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      check()
    }
    const onEnd = (): void => { finish({ ok: false, reason: 'client closed before a complete header' }) }
    if (start.length > 0 && check()) return
    socket.on('data', onData)
    socket.once('end', onEnd)
    socket.once('close', onEnd)
    socket.resume()
  })
}
