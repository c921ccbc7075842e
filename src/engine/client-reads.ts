import net, { type Socket } from 'node:net'
import { ReadBuffer, type LargeBudget } from './read-buffer.js'

/**
 * Accepted client sockets read into a buffer of the connection's own (read-buffer.ts), as the
 * engine's upstream sockets do with `onread`: node:net offers `onread` only to sockets it creates
 * for `connect()`, and reads accepted ones through the stream layer — a fresh 64 KiB allocation
 * (shrunk to the bytes read), a push and a `data` event per read. node:net keeps `onread`'s
 * buffer, generator and callback under three symbols of its own and hands the buffer to the
 * handle (`useUserBuffer`); those symbols are found once, by description, on a socket created
 * with `onread`. Where they are missing (another Node) or the socket already holds read bytes,
 * nothing changes and the caller reads `data` events. TLS sockets keep the stream layer too:
 * node:tls goes on handing over the decrypted bytes of a read after the socket was paused, so a
 * buffer still referenced by a queued write would be overwritten (the engine relies on a paused
 * socket reading nothing until it resumes; test/e2e/engine-body-integrity.test.ts, TLS uploads).
 *
 * Client buffers start at 4 KiB (a request head; held while the connection idles) and grow to
 * 64 KiB once a read fills one (uploads), for at most CLIENT_LARGE_BUFFERS connections at once.
 */
export const CLIENT_READ_SMALL = 4 * 1024
export const CLIENT_READ_LARGE = 64 * 1024
export const CLIENT_LARGE_BUFFERS = 256
const largeBuffers: LargeBudget = { maxLarge: CLIENT_LARGE_BUFFERS, used: 0 }

interface ReadSymbols { buffer: symbol, callback: symbol, generator: symbol }
interface UserBufferHandle { useUserBuffer?: (buf: Uint8Array) => void }

const symbols = ((): ReadSymbols | undefined => {
  const probe = new net.Socket({ onread: { buffer: () => Buffer.alloc(1), callback: () => true } })
  const own = Object.getOwnPropertySymbols(probe)
  const named = (d: string): symbol | undefined => own.find(s => s.description === d)
  const [buffer, callback, generator] = [named('kBuffer'), named('kBufferCb'), named('kBufferGen')]
  probe.destroy()
  return buffer === undefined || callback === undefined || generator === undefined ? undefined : { buffer, callback, generator }
})()

/**
 * Reads `socket` into its own buffer from now on: `onRead(chunk)` gets each read's bytes, valid
 * during the call unless the returned ReadBuffer's `lend()` is called (`pause()`/`resume()` stop
 * and restart reads). Returns undefined when the socket keeps the stream layer's reads (`data`
 * events).
 */
export function readInto (socket: Socket, onRead: (chunk: Buffer) => void): ReadBuffer | undefined {
  const handle = (socket as unknown as { _handle?: UserBufferHandle | null })._handle
  if (symbols === undefined || typeof handle?.useUserBuffer !== 'function' || socket.readableLength > 0 || (socket as { encrypted?: boolean }).encrypted === true) return undefined
  const reads = new ReadBuffer(CLIENT_READ_SMALL, CLIENT_READ_LARGE, largeBuffers)
  const first = reads.next()
  const own = socket as unknown as Record<symbol, unknown>
  own[symbols.buffer] = first
  own[symbols.generator] = reads.next
  own[symbols.callback] = (nread: number, buf: Buffer): boolean => {
    reads.read(nread, buf)
    onRead(buf.subarray(0, nread))
    return true
  }
  handle.useUserBuffer(first)
  releaseOnClose(socket, reads)
  return reads
}

// Its own scope: a listener made in readInto's would keep `onRead` (the connection) for the
// socket's life, a tunnel's too.
function releaseOnClose (socket: Socket, reads: ReadBuffer): void { socket.once('close', () => { reads.release() }) }

/**
 * A socket reading into its own buffer feeds the readable stream again (a copy per read), for
 * code that reads it as a stream from now on (a websocket tunnel's `pipe`). `push` returning
 * false stops reading; the stream's next `_read` starts it again. Nothing keeps a read's bytes
 * past its callback now, so every such socket reads into one buffer shared by all of them (from
 * its next read on; a call made inside a read callback takes effect for the next read already),
 * and the connection's own goes: an idle tunnel holds no read buffer, as with the stream layer.
 */
export function readAsStream (socket: Socket, reads: ReadBuffer): void {
  if (symbols === undefined) return
  const own = socket as unknown as Record<symbol, unknown>
  own[symbols.callback] = (nread: number, buf: Buffer): boolean => socket.push(Buffer.from(buf.subarray(0, nread)))
  own[symbols.generator] = shared
  reads.release()
}

let sharedBuffer: Buffer | undefined
const shared = (): Buffer => (sharedBuffer ??= Buffer.allocUnsafe(CLIENT_READ_LARGE))
