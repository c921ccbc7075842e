import dgram from 'node:dgram'
import net from 'node:net'
import { checkResponse, upstreamQuery, type Checked, type TtlCaps } from './upstream-response.js'

export interface Upstream { host: string, port: number }

/** How one exchange with one upstream ended. */
export type Outcome = Checked | { kind: 'timeout' | 'error' }

const TCP_MAX = 65_535

/**
 * One query to one upstream over UDP from a fresh socket: a random source port picked by the
 * kernel, connected to the upstream so datagrams from any other address or port never reach
 * us; packets that do not match the id and question are ignored until the timeout.
 */
export function exchangeUdp (up: Upstream, id: number, question: Buffer, timeoutMs: number, caps: TtlCaps, done: (o: Outcome) => void): void {
  const socket = dgram.createSocket(net.isIPv6(up.host) ? 'udp6' : 'udp4')
  let finished = false
  const finish = (o: Outcome): void => {
    if (finished) return
    finished = true
    clearTimeout(timer)
    try { socket.close() } catch {}
    done(o)
  }
  const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs)
  socket.on('error', () => finish({ kind: 'error' }))
  socket.on('message', (msg, rinfo) => {
    if (rinfo.port !== up.port || rinfo.address !== up.host) return
    const checked = checkResponse(msg, id, question, caps)
    if (checked.kind !== 'ignore') finish(checked)
  })
  socket.connect(up.port, up.host, () => {
    if (finished) return
    socket.send(upstreamQuery(id, question), err => { if (err !== null && err !== undefined) finish({ kind: 'error' }) })
  })
}

/** The same over TCP (RFC 7766 framing), after a truncated UDP answer; one query per connection. */
export function exchangeTcp (up: Upstream, id: number, question: Buffer, timeoutMs: number, caps: TtlCaps, done: (o: Outcome) => void): void {
  const socket = net.connect({ host: up.host, port: up.port })
  let finished = false
  const finish = (o: Outcome): void => {
    if (finished) return
    finished = true
    clearTimeout(timer)
    socket.destroy()
    done(o)
  }
  const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs)
  socket.on('error', () => finish({ kind: 'error' }))
  socket.on('close', () => finish({ kind: 'error' }))
  socket.on('connect', () => {
    const q = upstreamQuery(id, question)
    const prefix = Buffer.allocUnsafe(2)
    prefix.writeUInt16BE(q.length)
    socket.write(Buffer.concat([prefix, q]))
  })
  let pending = Buffer.alloc(0)
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk])
    if (pending.length > TCP_MAX + 2) { finish({ kind: 'bad' }); return }
    if (pending.length < 2 || pending.length < 2 + pending.readUInt16BE(0)) return
    const checked = checkResponse(pending.subarray(2, 2 + pending.readUInt16BE(0)), id, question, caps)
    // Over TCP the answer is the one packet on our own connection: anything else is a failure.
    finish(checked.kind === 'ignore' || checked.kind === 'truncated' ? { kind: 'bad' } : checked)
  })
}
