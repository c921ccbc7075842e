import type { NameTable } from './registry.js'
import { addressBytes, CLASS_IN, RCODE, TYPE, type Query, type Reply, type RR } from './wire.js'

export interface ZoneData {
  /** The Docker zone, lower case; undefined: only TXT answers and PTRs are served. */
  zone: string | undefined
  ttlSeconds: number
  table: NameTable
  /** TXT values on offer outside the registry (ACME DNS-01 challenges, builtin provider). */
  txt: (name: string) => readonly string[] | undefined
}

const refused: Reply = { rcode: RCODE.REFUSED, aa: false, answers: [], authorities: [] }
/**
 * REFUSED because the name is not portico's (outside the zone, a reverse name of no container):
 * the one answer the server may replace with a forwarded one. Compared by identity.
 */
export const OUTSIDE: Reply = { rcode: RCODE.REFUSED, aa: false, answers: [], authorities: [] }
/** The table is held (dockerd back, not resynced): resolvers retry, nobody gets a reused address. */
const held: Reply = { rcode: RCODE.SERVFAIL, aa: false, answers: [], authorities: [] }
const notImplemented: Reply = { rcode: RCODE.NOTIMP, aa: false, answers: [], authorities: [] }
const IN_ADDR = '.in-addr.arpa'
const IP6_ARPA = '.ip6.arpa'
const NIBBLES = /^(?:[0-9a-f]\.){31}[0-9a-f]$/
const OCTETS = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/

/**
 * The answer to one parsed query: A/AAAA from the registry's best candidate, PTR for registered
 * addresses, SOA/NS at the apex, NXDOMAIN with the SOA for unknown names, REFUSED outside the
 * zone and for classes other than IN, a minimal RFC 8482 answer for ANY, NOTIMP for zone transfers.
 */
export function answer (q: Query, d: ZoneData): Reply {
  if (q.cls !== CLASS_IN) return refused
  if (q.type === TYPE.AXFR || q.type === TYPE.IXFR) return notImplemented
  const ttl = d.ttlSeconds
  const reversed = reverseAddress(q.name)
  if (reversed !== undefined) {
    if (q.type !== TYPE.PTR) return OUTSIDE
    if (d.table.held === true) return held
    const names = d.table.reverse(reversed)
    if (names === undefined) return OUTSIDE
    return { rcode: RCODE.NOERROR, aa: true, answers: names.map(target => ({ ttl, data: { type: TYPE.PTR, target } })), authorities: [] }
  }
  const txt = d.txt(q.name)
  if (txt !== undefined) {
    const answers: RR[] = q.type === TYPE.TXT || q.type === TYPE.ANY ? txt.map(v => ({ ttl: 0, data: { type: TYPE.TXT, strings: [v] } })) : []
    return { rcode: RCODE.NOERROR, aa: true, answers, authorities: [] }
  }
  const zone = d.zone
  if (zone === undefined || (q.name !== zone && !q.name.endsWith(`.${zone}`))) return OUTSIDE
  const soa = soaOf(zone, ttl)
  const nodata: Reply = { rcode: RCODE.NOERROR, aa: true, answers: [], authorities: [soa] }
  if (q.name === zone) {
    if (q.type === TYPE.SOA || q.type === TYPE.ANY) return { rcode: RCODE.NOERROR, aa: true, answers: [{ ...soa, name: undefined }], authorities: [] }
    if (q.type === TYPE.NS) return { rcode: RCODE.NOERROR, aa: true, answers: [{ ttl, data: { type: TYPE.NS, target: `ns.${zone}` } }], authorities: [] }
    return nodata
  }
  if (d.table.held === true) return held
  const best = d.table.lookup(q.name)?.[0]
  if (best === undefined) return { rcode: RCODE.NXDOMAIN, aa: true, answers: [], authorities: [soa] }
  if (q.type === TYPE.ANY) {
    // RFC 8482: no list of everything, one synthesised HINFO instead.
    return { rcode: RCODE.NOERROR, aa: true, answers: [{ ttl, data: { type: TYPE.HINFO, cpu: 'RFC8482', os: '' } }], authorities: [] }
  }
  const ip = q.type === TYPE.A ? best.ipv4 : q.type === TYPE.AAAA ? best.ipv6 : undefined
  const address = ip === undefined ? undefined : cachedAddress(ip)
  if (address === undefined || address.length !== (q.type === TYPE.A ? 4 : 16)) return nodata
  return { rcode: RCODE.NOERROR, aa: true, answers: [{ ttl, data: { type: q.type as typeof TYPE.A, address } }], authorities: [] }
}

let soaCache: RR | undefined
function soaOf (zone: string, ttl: number): RR {
  if (soaCache?.name !== zone || soaCache.ttl !== ttl) {
    soaCache = { name: zone, ttl, data: { type: TYPE.SOA, mname: `ns.${zone}`, rname: `hostmaster.${zone}`, serial: 1, refresh: 300, retry: 60, expire: 86_400, minimum: ttl } }
  }
  return soaCache
}

/** Addresses are few and asked often: their bytes are kept (bounded: the table starts over). */
const addresses = new Map<string, Buffer | undefined>()
function cachedAddress (ip: string): Buffer | undefined {
  let b = addresses.get(ip)
  if (b === undefined && !addresses.has(ip)) {
    if (addresses.size >= 65_536) addresses.clear()
    b = addressBytes(ip)
    addresses.set(ip, b)
  }
  return b
}

/** The address a full reverse name (4 octets in in-addr.arpa, 32 nibbles in ip6.arpa) stands for. */
function reverseAddress (name: string): string | undefined {
  if (name.endsWith(IN_ADDR)) {
    const octets = name.slice(0, -IN_ADDR.length)
    return OCTETS.test(octets) ? octets.split('.').reverse().join('.') : undefined
  }
  if (!name.endsWith(IP6_ARPA)) return undefined
  const nibbles = name.slice(0, -IP6_ARPA.length)
  if (!NIBBLES.test(nibbles)) return undefined
  return nibbles.split('.').reverse().join('').replace(/(.{4})(?!$)/g, '$1:')
}
