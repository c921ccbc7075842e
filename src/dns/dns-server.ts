import dns2 from 'dns2'
import { started } from '../util/started.js'
import type { NameTable } from './registry.js'

const { Packet } = dns2

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
  onQuery?: (rcode: string) => void
}

const RCODE = { NOERROR: 0, NXDOMAIN: 3, REFUSED: 5 } as const

type Question = { name: string, type: number }
type Answer = Record<string, unknown>

/**
 * Authoritative DNS for the Docker zone over UDP and TCP (dns2): A/AAAA from the registry's best
 * candidate, PTR for registered addresses, SOA/NS at the apex, NXDOMAIN with the SOA for unknown
 * names, REFUSED outside the zone. Case-insensitive; malformed packets are dropped.
 */
export async function startDnsServer (opts: DnsServerOptions): Promise<{ close: () => Promise<void>, udpPort: number, tcpPort: number }> {
  const zone = opts.zone?.toLowerCase() ?? 'invalid'
  const soa = { name: zone, type: Packet.TYPE.SOA, class: Packet.CLASS.IN, ttl: opts.ttlSeconds, primary: `ns.${zone}`, admin: `hostmaster.${zone}`, serial: 1, refresh: 300, retry: 60, expiration: 86_400, minimum: opts.ttlSeconds }
  const handle = (request: InstanceType<typeof Packet>, send: (r: unknown) => unknown): void => {
    const response = Packet.createResponseFromRequest(request)
    const q = request.questions[0] as Question | undefined
    const name = q?.name.toLowerCase().replace(/\.$/, '') ?? ''
    const reply = answer(q === undefined ? undefined : { name, type: q.type })
    response.header.aa = reply.rcode === RCODE.REFUSED ? 0 : 1
    response.header.rcode = reply.rcode
    response.answers.push(...reply.answers as never[])
    response.authorities.push(...reply.authorities as never[])
    opts.onQuery?.(reply.rcode === RCODE.NOERROR ? 'NOERROR' : reply.rcode === RCODE.NXDOMAIN ? 'NXDOMAIN' : 'REFUSED')
    void Promise.resolve(send(response)).catch(() => {})
  }
  const answer = (q: Question | undefined): { rcode: number, answers: Answer[], authorities: Answer[] } => {
    if (q === undefined) return { rcode: RCODE.REFUSED, answers: [], authorities: [] }
    const T = Packet.TYPE
    if (q.name.endsWith('.in-addr.arpa') && q.type === T.PTR) {
      const ip = q.name.slice(0, -'.in-addr.arpa'.length).split('.').reverse().join('.')
      const names = opts.table().reverse(ip)
      if (names === undefined) return { rcode: RCODE.REFUSED, answers: [], authorities: [] }
      return { rcode: RCODE.NOERROR, answers: names.map(n => ({ name: q.name, type: T.PTR, class: Packet.CLASS.IN, ttl: opts.ttlSeconds, domain: n })), authorities: [] }
    }
    const txt = opts.txt?.(q.name)
    if (txt !== undefined) {
      if (q.type !== T.TXT) return { rcode: RCODE.NOERROR, answers: [], authorities: [] }
      return { rcode: RCODE.NOERROR, answers: txt.map(data => ({ name: q.name, type: T.TXT, class: Packet.CLASS.IN, ttl: 0, data })), authorities: [] }
    }
    if (opts.zone === undefined || (q.name !== zone && !q.name.endsWith(`.${zone}`))) return { rcode: RCODE.REFUSED, answers: [], authorities: [] }
    const base = { name: q.name, class: Packet.CLASS.IN, ttl: opts.ttlSeconds }
    if (q.name === zone) {
      if (q.type === T.SOA) return { rcode: RCODE.NOERROR, answers: [soa], authorities: [] }
      if (q.type === T.NS) return { rcode: RCODE.NOERROR, answers: [{ ...base, type: T.NS, ns: `ns.${zone}` }], authorities: [] }
      return { rcode: RCODE.NOERROR, answers: [], authorities: [soa] }
    }
    const best = opts.table().lookup(q.name)?.[0]
    if (best === undefined) return { rcode: RCODE.NXDOMAIN, answers: [], authorities: [soa] }
    if (q.type === T.A && best.ipv4 !== undefined) return { rcode: RCODE.NOERROR, answers: [{ ...base, type: T.A, address: best.ipv4 }], authorities: [] }
    if (q.type === T.AAAA && best.ipv6 !== undefined) return { rcode: RCODE.NOERROR, answers: [{ ...base, type: T.AAAA, address: best.ipv6 }], authorities: [] }
    return { rcode: RCODE.NOERROR, answers: [], authorities: [soa] } // NODATA
  }
  const tcp = new dns2.TCPServer()
  tcp.on('request', handle)
  tcp.on('requestError', () => {})
  tcp.on('error', () => {})
  const udp = await bindSamePort(() => {
    const u = new dns2.UDPServer({ type: opts.address.includes(':') ? 'udp6' : 'udp4' })
    u.on('request', handle)
    u.on('requestError', () => {})
    u.on('error', () => {})
    return u
  }, tcp, opts.port, opts.address)
  return {
    udpPort: udp.address().port,
    tcpPort: (tcp.address() as { port: number }).port,
    close: async () => {
      udp.close()
      await new Promise<void>(resolve => tcp.close(() => resolve()))
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
async function bindSamePort (newUdp: () => InstanceType<typeof dns2.UDPServer>, tcp: InstanceType<typeof dns2.TCPServer>, port: number, address: string): Promise<InstanceType<typeof dns2.UDPServer>> {
  for (let attempt = 1; ; attempt++) {
    const udp = newUdp()
    try {
      // Not dns2's listen(): its promise never settles when bind fails.
      await started(udp, done => udp.bind(port, address, done))
      await started(tcp, done => tcp.listen(udp.address().port, address, done))
      return udp
    } catch (err) {
      await new Promise<void>(resolve => { try { udp.close(() => resolve()) } catch { resolve() } })
      if (port !== 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= SAME_PORT_ATTEMPTS) throw err
    }
  }
}
