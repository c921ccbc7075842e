import dns2 from 'dns2'
import { randomInt } from 'node:crypto'
import { udpExchange } from './providers/rfc2136.js'
import { parseListenAddress } from '../util/address.js'

const { Packet } = dns2

export interface PropagationOptions {
  /** Authoritative servers to ask directly (HOST:PORT); none: skip the check. */
  nameservers: readonly string[]
  delayMs: number
  intervalMs: number
  timeoutMs: number
}

/**
 * Waits until every given authoritative server answers the TXT value, asking them directly
 * (never a caching resolver, whose negative cache would only slow this down).
 */
export async function waitForTxt (fqdn: string, value: string, o: PropagationOptions, sleep = defaultSleep): Promise<void> {
  if (o.nameservers.length === 0) return
  if (o.delayMs > 0) await sleep(o.delayMs)
  const deadline = Date.now() + o.timeoutMs
  const pending = new Set(o.nameservers)
  while (pending.size > 0) {
    for (const ns of [...pending]) {
      const values = await queryTxt(ns, fqdn).catch(() => [] as string[])
      if (values.includes(value)) pending.delete(ns)
    }
    if (pending.size === 0) return
    if (Date.now() + o.intervalMs > deadline) throw new Error(`TXT ${fqdn} not visible on ${[...pending].join(', ')} after ${o.timeoutMs} ms`)
    await sleep(o.intervalMs)
  }
}

export async function queryTxt (server: string, fqdn: string): Promise<string[]> {
  const hp = parseListenAddress(server)
  if (hp === undefined) throw new Error(`bad nameserver ${server}`)
  const q = new Packet()
  q.header.id = randomInt(0, 65536)
  q.header.rd = 0
  q.questions.push({ name: fqdn.replace(/\.$/, ''), type: Packet.TYPE.TXT, class: Packet.CLASS.IN } as never)
  const reply = Packet.parse(await udpExchange(q.toBuffer(), hp.host, hp.port, 3000))
  return reply.answers.filter(a => a.type === Packet.TYPE.TXT).flatMap(a => (a as unknown as { data: string | string[] }).data).map(String)
}

const defaultSleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))
