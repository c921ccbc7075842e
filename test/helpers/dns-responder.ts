import dgram from 'node:dgram'
import { encodeResponse, parseQuery, type Query, type Reply } from '../../src/dns/wire.js'

export interface Responder {
  address: string
  port: number
  /** Queries received, by lower-case name. */
  received: Map<string, number>
  close: () => void
}

/**
 * A tiny scripted UDP resolver on loopback (for what dnsmasq cannot do: SOA-carrying negative
 * answers, forged answers, silence). `answer` returns the reply, or undefined to stay silent;
 * `forge` optionally gets a second socket (another source port) to send from first.
 */
export async function startResponder (address: string, answer: (q: Query, forge: (b: Buffer) => void) => Reply | undefined, delayMs = 0): Promise<Responder> {
  const socket = dgram.createSocket('udp4')
  const forger = dgram.createSocket('udp4')
  await new Promise<void>(resolve => socket.bind(0, address, resolve))
  await new Promise<void>(resolve => forger.bind(0, address, resolve))
  const received = new Map<string, number>()
  socket.on('message', (msg, rinfo) => {
    const parsed = parseQuery(msg)
    if (parsed.kind !== 'query') return
    const q = parsed.query
    received.set(q.name, (received.get(q.name) ?? 0) + 1)
    const reply = answer(q, b => forger.send(b, rinfo.port, rinfo.address))
    if (reply === undefined) return
    const out = encodeResponse(q.id, 0, q.rd, q.question, q.edns, reply, 1232)
    setTimeout(() => socket.send(out, rinfo.port, rinfo.address), delayMs)
  })
  return { address, port: socket.address().port, received, close: () => { socket.close(); forger.close() } }
}
