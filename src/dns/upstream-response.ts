import { EDNS_UDP_SIZE, RCODE, TYPE, skipRecord } from './wire.js'

const HEADER = 12
const MIN_RR = 11
const OPT_RR = 11
/** RFC 2181 §8: a TTL with the top bit set is treated as zero. */
const TTL_MAX = 0x7fffffff

/**
 * An upstream answer reduced to what a client gets: the records after the question, without the
 * upstream's OPT. Compression pointers stay valid because the client's question has the same
 * length as the one sent upstream (the names differ at most in letter case).
 */
export interface Forwarded {
  rcode: number
  body: Buffer
  an: number
  ns: number
  ar: number
  /** Where each record's TTL sits in `body`. */
  ttlAt: readonly number[]
  /** Seconds the answer may be cached (capped); 0: not cached. */
  ttl: number
}

export interface TtlCaps { maxTtl: number, negativeTtl: number }

/** ignore: not the answer to our query (spoofed, stray); bad: malformed; truncated: retry over TCP. */
export type Checked = { kind: 'ignore' | 'bad' | 'truncated' } | { kind: 'answer', answer: Forwarded }

/** The query sent upstream: a fresh random id, RD, the client's question, our own EDNS size. */
export function upstreamQuery (id: number, question: Buffer): Buffer {
  const out = Buffer.alloc(HEADER + question.length + OPT_RR)
  out.writeUInt16BE(id, 0)
  out.writeUInt16BE(0x0100, 2)
  out.writeUInt16BE(1, 4)
  out.writeUInt16BE(1, 10)
  question.copy(out, HEADER)
  const opt = HEADER + question.length
  out.writeUInt16BE(TYPE.OPT, opt + 1)
  out.writeUInt16BE(EDNS_UDP_SIZE, opt + 3)
  return out
}

/**
 * Checks a packet against the query it should answer (id, QR, opcode, the exact question, case
 * aside) and reads its records in one bounded pass, as parseQuery does: counts checked against
 * the bytes present first, every record inside the packet.
 */
export function checkResponse (buf: Buffer, id: number, question: Buffer, caps: TtlCaps): Checked {
  const qEnd = HEADER + question.length
  if (buf.length < qEnd || buf.readUInt16BE(0) !== id) return { kind: 'ignore' }
  const flags = buf.readUInt16BE(2)
  if ((flags & 0x8000) === 0 || ((flags >> 11) & 0xf) !== 0 || buf.readUInt16BE(4) !== 1) return { kind: 'ignore' }
  if (!sameQuestion(buf, HEADER, question)) return { kind: 'ignore' }
  if ((flags & 0x0200) !== 0) return { kind: 'truncated' }
  const an = buf.readUInt16BE(6)
  const ns = buf.readUInt16BE(8)
  const total = an + ns + buf.readUInt16BE(10)
  if (total * MIN_RR > buf.length - qEnd) return { kind: 'bad' }
  const ttlAt: number[] = []
  let at = qEnd
  let answerTtl = TTL_MAX
  let negativeTtl: number | undefined
  for (let i = 0; i < total; i++) {
    const rr = skipRecord(buf, at)
    if (rr === undefined) return { kind: 'bad' }
    if (rr.type === TYPE.OPT) {
      // The upstream's OPT (and anything after it) is not passed on: the client gets ours.
      if (i < an + ns) return { kind: 'bad' }
      break
    }
    const ttl = rr.ttl > TTL_MAX ? 0 : rr.ttl
    if (i < an) answerTtl = Math.min(answerTtl, ttl)
    else if (i < an + ns && rr.type === TYPE.SOA && rr.end - (rr.ttlAt + 6) >= 22) {
      // RFC 2308 §5: a negative answer lives min(SOA TTL, SOA MINIMUM).
      negativeTtl = Math.min(ttl, buf.readUInt32BE(rr.end - 4))
    }
    ttlAt.push(rr.ttlAt - qEnd)
    at = rr.end
  }
  const rcode = flags & 0xf
  const kept = ttlAt.length
  let ttl = 0
  if (rcode === RCODE.NOERROR && an > 0) ttl = Math.min(answerTtl, caps.maxTtl)
  else if (rcode === RCODE.NXDOMAIN || rcode === RCODE.NOERROR) ttl = Math.min(negativeTtl ?? 0, caps.negativeTtl)
  return {
    kind: 'answer',
    answer: { rcode, body: Buffer.from(buf.subarray(qEnd, at)), an, ns, ar: kept - an - ns, ttlAt, ttl }
  }
}

/** Question bytes equal, ASCII letter case aside (0x20 randomisation upstream is allowed). */
function sameQuestion (buf: Buffer, at: number, question: Buffer): boolean {
  for (let i = 0; i < question.length; i++) {
    let a = buf[at + i]!
    let b = question[i]!
    if (a >= 0x41 && a <= 0x5a) a += 0x20
    if (b >= 0x41 && b <= 0x5a) b += 0x20
    if (a !== b) return false
  }
  return true
}

/**
 * The client's answer from a forwarded one: its id, question and RD, RA set, TTLs counted down by
 * `elapsed` seconds, our OPT when it sent one. Larger than `limit` (its UDP size): TC=1, no records.
 */
export function toClient (f: Forwarded, id: number, question: Buffer, rd: boolean, edns: boolean, elapsed: number, limit: number): Buffer {
  const opt = edns ? OPT_RR : 0
  const base = HEADER + question.length
  const fits = base + f.body.length + opt <= limit
  const out = Buffer.alloc(fits ? base + f.body.length + opt : base + opt)
  out.writeUInt16BE(id, 0)
  out.writeUInt16BE(0x8000 | (fits ? 0 : 0x0200) | (rd ? 0x0100 : 0) | 0x0080 | (f.rcode & 0xf), 2)
  out.writeUInt16BE(1, 4)
  question.copy(out, HEADER)
  let end = base
  if (fits) {
    out.writeUInt16BE(f.an, 6)
    out.writeUInt16BE(f.ns, 8)
    out.writeUInt16BE(f.ar + (edns ? 1 : 0), 10)
    f.body.copy(out, base)
    if (f.ttl > 0) {
      for (const t of f.ttlAt) out.writeUInt32BE(Math.max(0, Math.min(out.readUInt32BE(base + t), f.ttl) - elapsed), base + t)
    }
    end += f.body.length
  } else if (edns) out.writeUInt16BE(1, 10)
  if (edns) {
    out.writeUInt16BE(TYPE.OPT, end + 1)
    out.writeUInt16BE(EDNS_UDP_SIZE, end + 3)
  }
  return out
}
