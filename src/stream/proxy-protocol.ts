import { isIP } from 'node:net'

/**
 * PROXY protocol v1 (text) and v2 (binary), both directions: headers portico sends to upstreams
 * and headers it accepts from trusted load balancers. Parsing is bounded: v1 is at most 107
 * bytes, v2 at most 16 + MAX_V2_BODY; anything else is refused.
 */

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const V1_MAX = 107
export const MAX_V2_BODY = 1024

export interface Endpoint { address: string, port: number }
export interface Tlv { type: number, value: Buffer }

export type ProxyHeaderResult =
  | { kind: 'more' }
  | { kind: 'header', length: number, source: Endpoint | undefined, destination: Endpoint | undefined, tlvs: Tlv[] }
  | { kind: 'invalid', reason: string }

const MORE: ProxyHeaderResult = { kind: 'more' }
const invalid = (reason: string): ProxyHeaderResult => ({ kind: 'invalid', reason })

/** Strips an IPv4-mapped prefix, so one address family decides v1 TCP4/TCP6 and v2 families. */
export function plainAddress (address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address
}

export function encodeV1 (src: Endpoint, dst: Endpoint): Buffer {
  const s = plainAddress(src.address)
  const d = plainAddress(dst.address)
  const family = isIP(s) === 4 && isIP(d) === 4 ? 'TCP4' : isIP(s) === 6 && isIP(d) === 6 ? 'TCP6' : undefined
  if (family === undefined) return Buffer.from('PROXY UNKNOWN\r\n')
  return Buffer.from(`PROXY ${family} ${s} ${d} ${src.port} ${dst.port}\r\n`)
}

export function encodeV2 (src: Endpoint, dst: Endpoint, tlvs: readonly Tlv[] = []): Buffer {
  const s = plainAddress(src.address)
  const d = plainAddress(dst.address)
  const v4 = isIP(s) === 4 && isIP(d) === 4
  const v6 = isIP(s) === 6 && isIP(d) === 6
  const addrLen = v4 ? 12 : v6 ? 36 : 0
  const tlvLen = tlvs.reduce((n, t) => n + 3 + t.value.length, 0)
  const out = Buffer.alloc(16 + addrLen + tlvLen)
  V2_SIGNATURE.copy(out, 0)
  out[12] = 0x21 // version 2, PROXY
  out[13] = v4 ? 0x11 : v6 ? 0x21 : 0x00 // TCP over IPv4 / IPv6 / UNSPEC
  out.writeUInt16BE(addrLen + tlvLen, 14)
  let p = 16
  if (v4 || v6) {
    p = writeIp(out, p, s)
    p = writeIp(out, p, d)
    out.writeUInt16BE(src.port, p)
    out.writeUInt16BE(dst.port, p + 2)
    p += 4
  }
  for (const t of tlvs) {
    out[p] = t.type
    out.writeUInt16BE(t.value.length, p + 1)
    t.value.copy(out, p + 3)
    p += 3 + t.value.length
  }
  return out
}

function writeIp (out: Buffer, p: number, ip: string): number {
  if (isIP(ip) === 4) {
    for (const part of ip.split('.')) out[p++] = Number(part)
    return p
  }
  const [head = '', tail = ''] = ip.includes('::') ? ip.split('::') : [ip, '']
  const h = head === '' ? [] : head.split(':')
  const t = tail === '' ? [] : tail.split(':')
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
  for (const g of groups) { out.writeUInt16BE(parseInt(g, 16), p); p += 2 }
  return p
}

/** Decodes a PROXY header at the start of `buf` (v1 or v2), or says to wait for more bytes. */
export function decodeProxyHeader (buf: Buffer): ProxyHeaderResult {
  if (buf.length === 0) return MORE
  if (buf[0] === 0x0d) return decodeV2(buf)
  if (buf[0] === 0x50) return decodeV1(buf)
  return invalid('no PROXY protocol header')
}

const V1_LINE = /^PROXY (?:UNKNOWN[^\r\n]*|(TCP4|TCP6) ([0-9a-fA-F.:]{2,45}) ([0-9a-fA-F.:]{2,45}) (\d{1,5}) (\d{1,5}))\r\n$/

function decodeV1 (buf: Buffer): ProxyHeaderResult {
  const prefix = 'PROXY '
  const n = Math.min(buf.length, prefix.length)
  if (buf.toString('latin1', 0, n) !== prefix.slice(0, n)) return invalid('not a PROXY v1 header')
  const lf = buf.indexOf(0x0a)
  if (lf === -1) return buf.length >= V1_MAX ? invalid('PROXY v1 header longer than 107 bytes') : MORE
  if (lf + 1 > V1_MAX) return invalid('PROXY v1 header longer than 107 bytes')
  const m = V1_LINE.exec(buf.toString('latin1', 0, lf + 1))
  if (m === null) return invalid('malformed PROXY v1 header')
  if (m[1] === undefined) return { kind: 'header', length: lf + 1, source: undefined, destination: undefined, tlvs: [] }
  const family = m[1] === 'TCP4' ? 4 : 6
  const [src, dst, sport, dport] = [m[2]!, m[3]!, Number(m[4]), Number(m[5])]
  if (isIP(src) !== family || isIP(dst) !== family) return invalid(`PROXY v1 addresses are not ${m[1]}`)
  if (!validPort(sport) || !validPort(dport) || /^0\d/.test(m[4]!) || /^0\d/.test(m[5]!)) return invalid('bad PROXY v1 port')
  return { kind: 'header', length: lf + 1, source: { address: src, port: sport }, destination: { address: dst, port: dport }, tlvs: [] }
}

const validPort = (p: number): boolean => p >= 0 && p <= 65535

function decodeV2 (buf: Buffer): ProxyHeaderResult {
  const n = Math.min(buf.length, 12)
  if (!buf.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) return invalid('not a PROXY v2 signature')
  if (buf.length < 16) return MORE
  const verCmd = buf[12]!
  if (verCmd >> 4 !== 2) return invalid('PROXY v2 header with another version')
  const cmd = verCmd & 0x0f
  if (cmd > 1) return invalid('unknown PROXY v2 command')
  const len = buf.readUInt16BE(14)
  if (len > MAX_V2_BODY) return invalid(`PROXY v2 header of ${len} bytes is over the ${MAX_V2_BODY} byte limit`)
  if (buf.length < 16 + len) return MORE
  const body = buf.subarray(16, 16 + len)
  const fam = buf[13]!
  const addrLen = fam === 0x11 ? 12 : fam === 0x21 ? 36 : fam === 0x00 ? 0 : -1
  if (addrLen === -1) return invalid('PROXY v2 family is not TCP over IPv4/IPv6 or UNSPEC')
  if (len < addrLen) return invalid('PROXY v2 addresses truncated')
  const tlvs = readTlvs(body.subarray(addrLen))
  if (tlvs === undefined) return invalid('malformed PROXY v2 TLVs')
  // LOCAL (health checks of the balancer itself) and UNSPEC carry no client: the socket's address stays.
  if (cmd === 0 || addrLen === 0) return { kind: 'header', length: 16 + len, source: undefined, destination: undefined, tlvs }
  const half = addrLen === 12 ? 4 : 16
  const ip = (o: number): string => half === 4 ? [...body.subarray(o, o + 4)].join('.') : ipv6(body.subarray(o, o + 16))
  return {
    kind: 'header',
    length: 16 + len,
    source: { address: ip(0), port: body.readUInt16BE(2 * half) },
    destination: { address: ip(half), port: body.readUInt16BE(2 * half + 2) },
    tlvs
  }
}

function readTlvs (b: Buffer): Tlv[] | undefined {
  const out: Tlv[] = []
  let p = 0
  while (p < b.length) {
    if (p + 3 > b.length) return undefined
    const len = b.readUInt16BE(p + 1)
    if (p + 3 + len > b.length) return undefined
    out.push({ type: b[p]!, value: b.subarray(p + 3, p + 3 + len) })
    p += 3 + len
  }
  return out
}

function ipv6 (b: Buffer): string {
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16))
  // The canonical short form (RFC 5952), so it compares equal to what node reports for sockets.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1)
}

/** PP2_TYPE_SSL with the client certificate's subject (PP2_SUBTYPE_SSL_CN) and a custom SHA-256 fingerprint TLV. */
export const PP2_TYPE_SSL = 0x20
export const PP2_SUBTYPE_SSL_VERSION = 0x21
export const PP2_SUBTYPE_SSL_CN = 0x22
/** First custom type (0xE0..0xEF): portico's client-certificate SHA-256 fingerprint (hex, colon-separated). */
export const PP2_TYPE_PORTICO_FINGERPRINT = 0xe0

export function sslTlvs (c: { version: string, verified: boolean, subject: string | undefined, fingerprint: string | undefined }): Tlv[] {
  const sub: Buffer[] = [subTlv(PP2_SUBTYPE_SSL_VERSION, Buffer.from(c.version))]
  if (c.subject !== undefined) sub.push(subTlv(PP2_SUBTYPE_SSL_CN, Buffer.from(c.subject)))
  const head = Buffer.alloc(5)
  // client: PP2_CLIENT_SSL, plus PP2_CLIENT_CERT_CONN when a certificate was presented; verify: 0 = verified.
  head[0] = 0x01 | (c.subject !== undefined ? 0x02 : 0)
  head.writeUInt32BE(c.verified ? 0 : 1, 1)
  const tlvs: Tlv[] = [{ type: PP2_TYPE_SSL, value: Buffer.concat([head, ...sub]) }]
  if (c.fingerprint !== undefined) tlvs.push({ type: PP2_TYPE_PORTICO_FINGERPRINT, value: Buffer.from(c.fingerprint) })
  return tlvs
}

function subTlv (type: number, value: Buffer): Buffer {
  const b = Buffer.alloc(3 + value.length)
  b[0] = type
  b.writeUInt16BE(value.length, 1)
  value.copy(b, 3)
  return b
}
