/**
 * The DNS wire format, as much as an authoritative server for one zone needs (RFC 1035, EDNS0
 * per RFC 6891). Parsing costs at most one pass over the packet's bytes: counts are checked
 * against the bytes present before any record is read, names are bounded (255 bytes, 63 per
 * label), and the first malformed byte ends the parse. No exceptions on bad input.
 */

export const TYPE = { A: 1, NS: 2, SOA: 6, PTR: 12, HINFO: 13, TXT: 16, AAAA: 28, OPT: 41, IXFR: 251, AXFR: 252, ANY: 255 } as const
export const CLASS_IN = 1
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const

const HEADER = 12
/** The smallest resource record: root name (1) + type, class, ttl, rdlength (10). */
const MIN_RR = 11
const MAX_NAME = 255

export interface Edns { udpSize: number, version: number }

export interface Query {
  id: number
  opcode: number
  rd: boolean
  /** Lower-case, dot-separated, no trailing dot; bytes outside [!-~] and dots in labels as \DDD. */
  name: string
  type: number
  cls: number
  /** The question section's bytes, echoed verbatim (0x20 case randomisation survives). */
  question: Buffer
  edns: Edns | undefined
}

/** What to do with a packet: nothing (drop), an error answer, or a query to answer. */
export type Parsed =
  | { kind: 'drop' }
  | { kind: 'error', id: number, opcode: number, rd: boolean, rcode: number, question: Buffer | undefined, edns: Edns | undefined }
  | { kind: 'query', query: Query }

export function parseQuery (buf: Buffer): Parsed {
  // Too short for a header: nothing to address an answer to.
  if (buf.length < HEADER) return { kind: 'drop' }
  const id = buf.readUInt16BE(0)
  const flags = buf.readUInt16BE(2)
  // A response (QR=1) is never answered: two servers must not bounce errors at each other.
  if ((flags & 0x8000) !== 0) return { kind: 'drop' }
  const opcode = (flags >> 11) & 0xf
  const rd = (flags & 0x0100) !== 0
  const formerr = (question?: Buffer): Parsed => ({ kind: 'error', id, opcode, rd, rcode: RCODE.FORMERR, question, edns: undefined })
  if (opcode !== 0) return { kind: 'error', id, opcode, rd, rcode: RCODE.NOTIMP, question: undefined, edns: undefined }
  const qd = buf.readUInt16BE(4)
  const others = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10)
  if (qd !== 1) return formerr()
  const name = readQuestionName(buf, HEADER)
  if (name === undefined || name.end + 4 > buf.length) return formerr()
  const type = buf.readUInt16BE(name.end)
  const cls = buf.readUInt16BE(name.end + 2)
  const question = buf.subarray(HEADER, name.end + 4)
  let at = name.end + 4
  // Claimed records must fit in the bytes present before any is read.
  if (others * MIN_RR > buf.length - at) return formerr(question)
  let edns: Edns | undefined
  const arStart = buf.readUInt16BE(6) + buf.readUInt16BE(8)
  for (let i = 0; i < others; i++) {
    const rr = skipRecord(buf, at)
    if (rr === undefined) return formerr(question)
    if (rr.type === TYPE.OPT) {
      // One OPT, owned by the root, in the additional section only.
      if (edns !== undefined || i < arStart || buf[at] !== 0) return formerr(question)
      edns = { udpSize: rr.cls, version: (rr.ttl >>> 16) & 0xff }
    }
    at = rr.end
  }
  if (edns !== undefined && edns.version !== 0) return { kind: 'error', id, opcode, rd, rcode: RCODE.BADVERS, question, edns }
  return { kind: 'query', query: { id, opcode, rd, name: name.text, type, cls, question, edns } }
}

/** The question's name: uncompressed (nothing precedes it to point at), bounded. */
function readQuestionName (buf: Buffer, start: number): { text: string, end: number } | undefined {
  let at = start
  let text = ''
  for (;;) {
    if (at >= buf.length) return undefined
    const len = buf[at]!
    if (len === 0) break
    if (len > 63 || at + 1 + len - start >= MAX_NAME || at + 1 + len > buf.length) return undefined
    if (text !== '') text += '.'
    text += label(buf, at + 1, at + 1 + len)
    at += 1 + len
  }
  return { text, end: at + 1 }
}

/** One label, lower-cased; bytes outside [!-~], dots and backslashes escaped as \DDD (as dig prints). */
function label (buf: Buffer, from: number, to: number): string {
  let plain = true
  for (let i = from; i < to; i++) {
    const c = buf[i]!
    if (c <= 0x20 || c >= 0x7f || c === 0x2e || c === 0x5c) { plain = false; break }
  }
  if (plain) return buf.toString('latin1', from, to).toLowerCase()
  let text = ''
  for (let i = from; i < to; i++) {
    let c = buf[i]!
    if (c >= 0x41 && c <= 0x5a) c += 0x20
    text += c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c ? String.fromCharCode(c) : `\\${String(c).padStart(3, '0')}`
  }
  return text
}

/** Steps over one resource record (name possibly ending in a pointer, which is not followed). */
export function skipRecord (buf: Buffer, start: number): { type: number, cls: number, ttl: number, ttlAt: number, end: number } | undefined {
  let at = start
  for (;;) {
    if (at >= buf.length || at - start >= MAX_NAME) return undefined
    const len = buf[at]!
    if (len === 0) { at += 1; break }
    if ((len & 0xc0) === 0xc0) { at += 2; break }
    if (len > 63) return undefined
    at += 1 + len
  }
  if (at + 10 > buf.length) return undefined
  const rdlength = buf.readUInt16BE(at + 8)
  const end = at + 10 + rdlength
  if (end > buf.length) return undefined
  return { type: buf.readUInt16BE(at), cls: buf.readUInt16BE(at + 2), ttl: buf.readUInt32BE(at + 4), ttlAt: at + 4, end }
}

/** One resource record to write; `name` undefined means "the question's name" (a pointer). */
export type Rdata =
  | { type: typeof TYPE.A | typeof TYPE.AAAA, address: Buffer }
  | { type: typeof TYPE.NS | typeof TYPE.PTR, target: string }
  | { type: typeof TYPE.TXT, strings: readonly string[] }
  | { type: typeof TYPE.HINFO, cpu: string, os: string }
  | { type: typeof TYPE.SOA, mname: string, rname: string, serial: number, refresh: number, retry: number, expire: number, minimum: number }
export interface RR { name?: string, ttl: number, data: Rdata }

export interface Reply {
  rcode: number
  aa: boolean
  answers: readonly RR[]
  authorities: readonly RR[]
}

/** The EDNS payload size portico offers (the 2020 DNS flag day value: no IP fragmentation). */
export const EDNS_UDP_SIZE = 1232

/**
 * Encodes a response. `limit` is the most the transport may carry; an answer that does not fit
 * goes out with TC=1 and no records (the client retries over TCP).
 */
export function encodeResponse (id: number, opcode: number, rd: boolean, question: Buffer | undefined, edns: Edns | undefined, reply: Reply, limit: number): Buffer {
  const w = SCRATCH
  const rcode = reply.rcode & 0xf
  const head = (tc: boolean, records: number): void => {
    w.reset()
    w.u16(id)
    w.u16(0x8000 | (opcode << 11) | (reply.aa ? 0x0400 : 0) | (tc ? 0x0200 : 0) | (rd ? 0x0100 : 0) | rcode)
    w.u16(question === undefined ? 0 : 1)
    w.u16(records === 0 ? 0 : reply.answers.length)
    w.u16(records === 0 ? 0 : reply.authorities.length)
    w.u16(edns === undefined ? 0 : 1)
    if (question !== undefined) w.bytes(question)
  }
  const opt = (): void => {
    if (edns === undefined) return
    w.u8(0); w.u16(TYPE.OPT); w.u16(EDNS_UDP_SIZE); w.u32(((reply.rcode >> 4) & 0xff) << 24); w.u16(0)
  }
  head(false, 1)
  for (const r of reply.answers) writeRecord(w, r)
  for (const r of reply.authorities) writeRecord(w, r)
  opt()
  if (w.length <= limit) return w.done()
  head(true, 0)
  opt()
  return w.done()
}

function writeRecord (w: Writer, r: RR): void {
  if (r.name === undefined) w.u16(0xc000 | HEADER); else w.name(r.name)
  w.u16(r.data.type)
  w.u16(CLASS_IN)
  w.u32(r.ttl)
  const lengthAt = w.length
  w.u16(0)
  const d = r.data
  switch (d.type) {
    case TYPE.A: case TYPE.AAAA: w.bytes(d.address); break
    case TYPE.NS: case TYPE.PTR: w.name(d.target); break
    case TYPE.TXT: for (const s of d.strings) w.strings(s); break
    case TYPE.HINFO: w.string(d.cpu); w.string(d.os); break
    case TYPE.SOA: w.name(d.mname); w.name(d.rname); w.u32(d.serial); w.u32(d.refresh); w.u32(d.retry); w.u32(d.expire); w.u32(d.minimum); break
  }
  w.patch16(lengthAt, w.length - lengthAt - 2)
}

/** A growable buffer, reused for every response (the result is copied out); names uncompressed. */
class Writer {
  #buf: Buffer
  length = 0
  constructor (size: number) { this.#buf = Buffer.allocUnsafe(size) }
  reset (): void { this.length = 0 }
  #room (n: number): void {
    if (this.length + n <= this.#buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.length + n))
    this.#buf.copy(next, 0, 0, this.length)
    this.#buf = next
  }

  u8 (v: number): void { this.#room(1); this.#buf[this.length++] = v }
  u16 (v: number): void { this.#room(2); this.#buf.writeUInt16BE(v, this.length); this.length += 2 }
  u32 (v: number): void { this.#room(4); this.#buf.writeUInt32BE(v >>> 0, this.length); this.length += 4 }
  patch16 (at: number, v: number): void { this.#buf.writeUInt16BE(v, at) }
  bytes (b: Buffer): void { this.#room(b.length); b.copy(this.#buf, this.length); this.length += b.length }
  name (n: string): void {
    for (const label of n.split('.')) {
      if (label === '') continue
      this.string(label)
    }
    this.u8(0)
  }

  /** One <character-string> (at most 255 bytes: longer input is cut). */
  string (s: string): void {
    const b = Buffer.from(s, 'utf8').subarray(0, 255)
    this.u8(b.length)
    this.bytes(b)
  }

  /** A TXT value longer than 255 bytes is split into several strings (RFC 7208 §3.3). */
  strings (s: string): void {
    const b = Buffer.from(s, 'utf8')
    for (let i = 0; i === 0 || i < b.length; i += 255) {
      const part = b.subarray(i, i + 255)
      this.u8(part.length)
      this.bytes(part)
    }
  }

  done (): Buffer { return Buffer.from(this.#buf.subarray(0, this.length)) }
}

const SCRATCH = new Writer(4096)

/** Address bytes for an A or AAAA record; undefined for anything that is not an address. */
export function addressBytes (ip: string): Buffer | undefined {
  if (!ip.includes(':')) {
    const parts = ip.split('.')
    if (parts.length !== 4 || !parts.every(p => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined
    return Buffer.from(parts.map(Number))
  }
  let text = ip.replace(/%.*$/, '')
  // An embedded IPv4 tail (::ffff:192.0.2.1) becomes its two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (v4 !== null) {
    const b = addressBytes(v4[1]!)
    if (b === undefined) return undefined
    text = `${text.slice(0, -v4[1]!.length)}${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`
  }
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const groups = (s: string): number[] | undefined => {
    if (s === '') return []
    const g = s.split(':')
    return g.every(x => /^[0-9a-f]{1,4}$/i.test(x)) ? g.map(x => parseInt(x, 16)) : undefined
  }
  const head = groups(halves[0]!)
  const rest = halves.length === 2 ? groups(halves[1]!) : []
  if (head === undefined || rest === undefined) return undefined
  const fill = 8 - head.length - rest.length
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined
  const out = Buffer.alloc(16)
  ;[...head, ...Array<number>(fill).fill(0), ...rest].forEach((g, i) => out.writeUInt16BE(g, i * 2))
  return out
}
