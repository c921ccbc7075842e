import { createHmac, randomInt } from 'node:crypto'
import { createSocket } from 'node:dgram'
import type { DnsProvider } from './provider.js'

export interface Rfc2136Options {
  host: string
  port: number
  zone: string
  keyName: string
  algorithm: 'hmac-sha256' | 'hmac-sha512'
  secret: Buffer
  timeoutMs?: number
}

/**
 * RFC 2136 dynamic update signed with TSIG (RFC 8945): adds or deletes one TXT record at the
 * zone's primary (e.g. bind9 with an `update-policy` for the key).
 */
export function rfc2136Provider (o: Rfc2136Options): DnsProvider {
  const update = async (fqdn: string, value: string, add: boolean): Promise<void> => {
    const id = randomInt(0, 65536)
    const body = Buffer.concat([
      header(id, 1, 0, 1, 0),
      name(o.zone), u16(6 /* SOA */), u16(1 /* IN */),
      // add: class IN, TTL 60; delete this value: class NONE, TTL 0 (RFC 2136 §2.5.4)
      name(fqdn), u16(16 /* TXT */), u16(add ? 1 : 254), u32(add ? 60 : 0), rdataTxt(value)
    ])
    const signed = sign(body, id, o)
    const reply = await udpExchange(signed, o.host, o.port, o.timeoutMs ?? 10_000)
    const rcode = (reply[3] ?? 0) & 0x0f
    if (reply.readUInt16BE(0) !== id) throw new Error('rfc2136: reply id mismatch')
    if (rcode !== 0) throw new Error(`rfc2136: update ${add ? 'add' : 'delete'} ${fqdn} refused with rcode ${RCODES[rcode] ?? rcode}`)
  }
  return { name: 'rfc2136', present: async (f, v) => await update(f, v, true), cleanup: async (f, v) => await update(f, v, false) }
}

const RCODES: Record<number, string> = { 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED', 9: 'NOTAUTH', 10: 'NOTZONE' }

const u16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b }
const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b }

function header (id: number, zo: number, pr: number, up: number, ad: number): Buffer {
  return Buffer.concat([u16(id), u16(5 << 11 /* opcode UPDATE */), u16(zo), u16(pr), u16(up), u16(ad)])
}

function name (n: string): Buffer {
  const labels = n.replace(/\.$/, '').toLowerCase().split('.').filter(l => l !== '')
  return Buffer.concat([...labels.map(l => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])])
}

function rdataTxt (value: string): Buffer {
  const data = Buffer.from(value, 'utf8')
  return Buffer.concat([u16(data.length + 1), Buffer.from([data.length]), data])
}

/** Appends a TSIG record: HMAC over the message and the TSIG variables (RFC 8945 §4.3.3). */
function sign (message: Buffer, id: number, o: Rfc2136Options): Buffer {
  const alg = name(`${o.algorithm}.`)
  const now = Math.floor(Date.now() / 1000)
  const time = Buffer.concat([u16(Math.floor(now / 2 ** 32)), u32(now % 2 ** 32)])
  const fudge = u16(300)
  const vars = Buffer.concat([name(o.keyName), u16(255 /* ANY */), u32(0), alg, time, fudge, u16(0 /* error */), u16(0 /* other len */)])
  const mac = createHmac(o.algorithm === 'hmac-sha256' ? 'sha256' : 'sha512', o.secret).update(message).update(vars).digest()
  const rdata = Buffer.concat([alg, time, fudge, u16(mac.length), mac, u16(id), u16(0), u16(0)])
  const tsig = Buffer.concat([name(o.keyName), u16(250 /* TSIG */), u16(255), u32(0), u16(rdata.length), rdata])
  const out = Buffer.concat([message, tsig])
  out.writeUInt16BE(1, 10) // ARCOUNT
  return out
}

export async function udpExchange (msg: Buffer, host: string, port: number, timeoutMs: number): Promise<Buffer> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4')
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`rfc2136: no answer from ${host}:${port}`)), timeoutMs)
      socket.once('message', m => { clearTimeout(timer); resolve(m) })
      socket.once('error', err => { clearTimeout(timer); reject(err) })
      socket.send(msg, port, host)
    })
  } finally {
    socket.close()
  }
}
