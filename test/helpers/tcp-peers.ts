import type { Test } from 'tap'
import net from 'node:net'
import tls from 'node:tls'

/**
 * Loopback TCP peers for the `protocol: tcp` tests: an echo upstream that answers with a tag and
 * records every connection's first bytes (to read PROXY headers), a TLS upstream, and a client
 * that sends and reads a bounded number of bytes.
 */
export interface EchoUpstream { port: number, host: string, received: Buffer[], connections: number }

export async function tcpEcho (t: Test, host: string, tag: string): Promise<EchoUpstream> {
  const up: EchoUpstream = { port: 0, host, received: [], connections: 0 }
  const server = net.createServer(s => {
    up.connections++
    const i = up.received.push(Buffer.alloc(0)) - 1
    s.on('data', (d: Buffer) => {
      up.received[i] = Buffer.concat([up.received[i]!, d]).subarray(0, 4096)
      s.write(Buffer.concat([Buffer.from(`${tag}:`), d]))
    })
    s.on('error', () => {})
  })
  await new Promise<void>(resolve => server.listen(0, host, resolve))
  up.port = (server.address() as net.AddressInfo).port
  t.teardown(() => { server.close() })
  return up
}

/** A TLS server with its own certificate that writes `tag` after the handshake (the client sees who terminated). */
export async function tlsUpstream (t: Test, host: string, cert: { cert: string, key: string }, tag: string): Promise<number> {
  const server = tls.createServer({ cert: cert.cert, key: cert.key }, s => { s.end(tag); s.on('error', () => {}) })
  await new Promise<void>(resolve => server.listen(0, host, resolve))
  t.teardown(() => { server.close() })
  return (server.address() as net.AddressInfo).port
}

/** Connects, writes `data`, resolves with what arrives until `want` bytes or the peer closes (bounded by `timeoutMs`). */
export async function exchange (socket: net.Socket, data: string | undefined, want: number, timeoutMs = 5000): Promise<string> {
  return await new Promise((resolve, reject) => {
    let got = Buffer.alloc(0)
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`timeout after ${got.length} bytes: ${got.toString()}`)) }, timeoutMs)
    const done = (): void => { clearTimeout(timer); resolve(got.toString()) }
    socket.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); if (got.length >= want) done() })
    socket.once('close', done)
    socket.once('error', () => {})
    if (data !== undefined) socket.write(data)
  })
}

export async function connectTcp (port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return await new Promise((resolve, reject) => {
    const s = net.connect({ port, host }, () => resolve(s))
    s.once('error', reject)
  })
}

/** Resolves with the ms until the server closes the socket (or rejects after `timeoutMs`). */
export async function closedWithin (socket: net.Socket, timeoutMs: number): Promise<number> {
  const start = performance.now()
  return await new Promise((resolve, reject) => {
    if (socket.destroyed) { resolve(0); return }
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`still open after ${timeoutMs} ms`)) }, timeoutMs)
    socket.once('close', () => { clearTimeout(timer); resolve(performance.now() - start) })
    socket.on('error', () => {})
    socket.resume()
  })
}
