/**
 * Reads the SNI name from a TLS ClientHello without terminating TLS. Strict and bounded: the
 * ClientHello must arrive in the first record (browsers, curl, OpenSSL and Node all do that), so
 * the cost is one pass over at most one record (5 + 16384 bytes), and anything that is not a
 * well-formed ClientHello is refused rather than guessed at.
 */

export const MAX_RECORD = 16_384
export const MAX_HELLO_BYTES = 5 + MAX_RECORD

export type HelloResult =
  | { kind: 'more' }
  | { kind: 'hello', sni: string | undefined, length: number }
  | { kind: 'invalid', reason: string }

const MORE: HelloResult = { kind: 'more' }
const invalid = (reason: string): HelloResult => ({ kind: 'invalid', reason })
const NAME = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/

/** `buf` holds the bytes received so far; `more` means wait for more (the caller caps time and size). */
export function parseClientHello (buf: Buffer): HelloResult {
  if (buf.length >= 1 && buf[0] !== 0x16) return invalid('not a TLS handshake record')
  if (buf.length >= 2 && buf[1] !== 0x03) return invalid('not a TLS record version')
  if (buf.length < 5) return MORE
  const recordLength = buf.readUInt16BE(3)
  if (recordLength > MAX_RECORD || recordLength < 4) return invalid(`bad record length ${recordLength}`)
  if (buf.length < 5 + recordLength) return MORE
  const rec = buf.subarray(5, 5 + recordLength)
  if (rec[0] !== 0x01) return invalid('first handshake message is not a ClientHello')
  const helloLength = (rec[1]! << 16) | (rec[2]! << 8) | rec[3]!
  if (helloLength + 4 > recordLength) return invalid('ClientHello split across records (not accepted)')
  const sni = readSni(rec.subarray(4, 4 + helloLength))
  if (typeof sni === 'object') return sni
  return { kind: 'hello', sni: sni === '' ? undefined : sni, length: 5 + recordLength }
}

/** The host_name from the server_name extension, '' when absent, or why the hello is malformed. */
function readSni (h: Buffer): string | HelloResult {
  let p = 2 + 32 // client_version, random
  if (p + 1 > h.length) return invalid('truncated ClientHello')
  p += 1 + h[p]! // session_id
  if (p + 2 > h.length) return invalid('truncated ClientHello')
  const suites = h.readUInt16BE(p)
  if (suites === 0 || suites % 2 !== 0) return invalid('bad cipher suite list')
  p += 2 + suites
  if (p + 1 > h.length) return invalid('truncated ClientHello')
  p += 1 + h[p]! // compression methods
  if (p === h.length) return '' // no extensions at all
  if (p + 2 > h.length) return invalid('truncated ClientHello')
  const end = p + 2 + h.readUInt16BE(p)
  if (end !== h.length) return invalid('extensions length does not match the ClientHello')
  p += 2
  let sni = ''
  while (p < end) {
    if (p + 4 > end) return invalid('truncated extension')
    const type = h.readUInt16BE(p)
    const len = h.readUInt16BE(p + 2)
    p += 4
    if (p + len > end) return invalid('truncated extension')
    if (type === 0) {
      if (sni !== '') return invalid('two server_name extensions')
      const name = readServerName(h.subarray(p, p + len))
      if (typeof name === 'object') return name
      sni = name
    }
    p += len
  }
  return sni
}

function readServerName (e: Buffer): string | HelloResult {
  if (e.length < 5 || e.readUInt16BE(0) !== e.length - 2) return invalid('bad server_name list')
  if (e[2] !== 0) return invalid('server_name is not a host_name')
  const len = e.readUInt16BE(3)
  if (5 + len > e.length || len === 0 || len > 253) return invalid('bad server_name length')
  const name = e.toString('latin1', 5, 5 + len).toLowerCase()
  if (!NAME.test(name)) return invalid('server_name is not a DNS name')
  return name.endsWith('.') ? name.slice(0, -1) : name
}
