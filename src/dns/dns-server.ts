import dgram from 'node:dgram'
import net from 'node:net'
import { started } from '../util/started.js'
import type { NameTable } from './registry.js'
import { answer, OUTSIDE } from './answer.js'
import { Forwarder, type ForwardOptions } from './forwarder.js'
import { RateLimiter } from './rate-limit.js'
import { RecursionAllow, type AllowEntry } from './recursion-allow.js'
import { toClient } from './upstream-response.js'
import { encodeResponse, parseQuery, RCODE, EDNS_UDP_SIZE, type Query } from './wire.js'

export interface DnsServerOptions {
  address: string
  port: number
  /** The Docker zone, if any. */
  zone: string | undefined
  ttlSeconds: number
  /** TXT values on offer outside the registry (ACME DNS-01 challenges, builtin provider). */
  txt?: (name: string) => readonly string[] | undefined
  /** The current name table (read per query). */
  table: () => NameTable
  /** Queries per second per source address (burst: twice that); 0: no limit. */
  rateLimit?: number
  /** Forwarding of names that are not portico's, for clients in `allow`; undefined: REFUSED (the default). */
  forward?: ForwardOptions & { allow: AllowEntry[] }
  /** The Docker networks' CIDRs (`allow: docker`), read per forwarded query. */
  dockerSubnets?: () => readonly string[]
  onQuery?: (rcode: string) => void
}

export interface DnsServer { close: () => Promise<void>, udpPort: number, tcpPort: number }

const RCODE_NAMES = new Map<number, string>(Object.entries(RCODE).map(([k, v]) => [v, k]))
/** Plain DNS over UDP without EDNS carries at most 512 bytes (RFC 1035 §4.2.1). */
const UDP_PLAIN = 512
const TCP_MAX = 65_535
const TCP_IDLE_MS = 10_000
const TCP_MAX_CONNECTIONS = 512
const TCP_MAX_PER_SOURCE = 16

/**
 * Authoritative DNS for the Docker zone over UDP and TCP, on portico's own codec (wire.ts): the
 * cost of a packet is bounded by its length. Responses (QR=1) and too-short packets are dropped;
 * malformed queries get FORMERR; queries over a source's rate are dropped unanswered.
 */
export async function startDnsServer (opts: DnsServerOptions): Promise<DnsServer> {
  const data = { zone: opts.zone?.toLowerCase(), ttlSeconds: opts.ttlSeconds, table: opts.table(), txt: opts.txt ?? (() => undefined) }
  const limiter = opts.rateLimit === undefined || opts.rateLimit <= 0 ? undefined : new RateLimiter(opts.rateLimit, opts.rateLimit * 2)
  const forward = forwarding(opts)
  const count = (rcode: number): void => { opts.onQuery?.(RCODE_NAMES.get(rcode) ?? String(rcode)) }
  const respond: Respond = (packet, source, udp, send) => {
    if (limiter !== undefined && !limiter.allow(source)) return
    const parsed = parseQuery(packet)
    if (parsed.kind === 'drop') return
    if (parsed.kind === 'error') {
      count(parsed.rcode)
      send(encodeResponse(parsed.id, parsed.opcode, parsed.rd, parsed.question, parsed.edns, { rcode: parsed.rcode, aa: false, answers: [], authorities: [] }, UDP_PLAIN))
      return
    }
    const q = parsed.query
    data.table = opts.table()
    const reply = answer(q, data)
    // Within the client's UDP size (EDNS, else 512): an answer never outgrows its query's allowance.
    const limit = !udp ? TCP_MAX : q.edns === undefined ? UDP_PLAIN : Math.min(EDNS_UDP_SIZE, Math.max(UDP_PLAIN, q.edns.udpSize))
    if (reply === OUTSIDE && forward !== undefined && q.rd && forward.allowed(source)) { forward.answer(q, limit, send, count); return }
    count(reply.rcode)
    send(encodeResponse(q.id, q.opcode, q.rd, q.question, q.edns, reply, limit))
  }

  const tcp = net.createServer(socket => { serveTcp(socket, respond, tcpCounts) })
  tcp.maxConnections = TCP_MAX_CONNECTIONS
  const tcpCounts = new Map<string, number>()
  tcp.on('error', () => {})
  const udp = await bindSamePort(() => {
    const u = dgram.createSocket({ type: opts.address.includes(':') ? 'udp6' : 'udp4' })
    u.on('message', (msg, rinfo) => {
      respond(msg, rinfo.address, true, out => {
        // A forwarded answer may come back after close(): nothing to send it on then.
        try { u.send(out, rinfo.port, rinfo.address) } catch {}
      })
    })
    u.on('error', () => {})
    return u
  }, tcp, opts.port, opts.address)
  return {
    udpPort: udp.address().port,
    tcpPort: (tcp.address() as net.AddressInfo).port,
    close: async () => {
      udp.close()
      await new Promise<void>(resolve => tcp.close(() => resolve()))
    }
  }
}

/** Length-prefixed messages (RFC 7766); local answers in order, forwarded ones when they arrive; idle or oversized connections end. */
function serveTcp (socket: net.Socket, respond: Respond, counts: Map<string, number>): void {
  const source = socket.remoteAddress ?? ''
  const open = (counts.get(source) ?? 0) + 1
  counts.set(source, open)
  socket.once('close', () => {
    const left = (counts.get(source) ?? 1) - 1
    if (left <= 0) counts.delete(source); else counts.set(source, left)
  })
  socket.on('error', () => {})
  if (open > TCP_MAX_PER_SOURCE) { socket.destroy(); return }
  socket.setTimeout(TCP_IDLE_MS, () => socket.destroy())
  let pending: Buffer = Buffer.alloc(0)
  const send = (out: Buffer): void => {
    if (socket.destroyed) return
    const prefix = Buffer.allocUnsafe(2)
    prefix.writeUInt16BE(out.length)
    socket.write(Buffer.concat([prefix, out]))
  }
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    while (pending.length >= 2) {
      const len = pending.readUInt16BE(0)
      if (pending.length < 2 + len) break
      // Local answers are sent at once, forwarded ones when they arrive (RFC 7766 §7 allows any order).
      respond(pending.subarray(2, 2 + len), source, false, send)
      pending = pending.subarray(2 + len)
    }
    // Unanswered replies pile up only when the client does not read: stop reading from it too.
    if (socket.writableLength > TCP_MAX * 4) socket.destroy()
  })
}

/** Answers one packet from `source` through `send` (at once, later, or never: dropped). */
type Respond = (packet: Buffer, source: string, udp: boolean, send: (out: Buffer) => void) => void

interface Forwarding {
  allowed: (source: string) => boolean
  answer: (q: Query, limit: number, send: (out: Buffer) => void, count: (rcode: number) => void) => void
}

/** The forwarding side of the server, when `forward` is configured with at least one upstream. */
function forwarding (opts: DnsServerOptions): Forwarding | undefined {
  const f = opts.forward
  if (f === undefined || f.upstreams.length === 0) return undefined
  const forwarder = new Forwarder(f)
  const allow = new RecursionAllow(f.allow)
  return {
    allowed: source => {
      if (opts.dockerSubnets !== undefined) allow.setDockerSubnets(opts.dockerSubnets())
      return allow.allows(source)
    },
    answer: (q, limit, send, count) => {
      // The question must outlive the client's packet buffer only as a slice: copied once here.
      const question = Buffer.from(q.question)
      forwarder.forward(q, cached => {
        if (cached === undefined) {
          count(RCODE.SERVFAIL)
          send(encodeResponse(q.id, 0, q.rd, question, q.edns, { rcode: RCODE.SERVFAIL, aa: false, answers: [], authorities: [] }, limit))
          return
        }
        count(cached.answer.rcode)
        const elapsed = Math.floor((Date.now() - cached.storedAt) / 1000)
        send(toClient(cached.answer, q.id, question, q.rd, q.edns !== undefined, elapsed, limit))
      })
    }
  }
}

/** Port-0 attempts: the UDP port the kernel picks may be taken for TCP by another process. */
const SAME_PORT_ATTEMPTS = 20

/**
 * UDP and TCP on one port (resolvers retry a truncated answer over TCP on the port they asked).
 * With port 0 the TCP bind takes whatever UDP got, and a new pair is tried when that TCP port is
 * in use; on failure the UDP socket is closed again, so nothing stays bound.
 */
async function bindSamePort (newUdp: () => dgram.Socket, tcp: net.Server, port: number, address: string): Promise<dgram.Socket> {
  for (let attempt = 1; ; attempt++) {
    const udp = newUdp()
    try {
      await started(udp, done => udp.bind(port, address, done))
      await started(tcp, done => tcp.listen(udp.address().port, address, done))
      return udp
    } catch (err) {
      await new Promise<void>(resolve => { try { udp.close(() => resolve()) } catch { resolve() } })
      if (port !== 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= SAME_PORT_ATTEMPTS) throw err
    }
  }
}
