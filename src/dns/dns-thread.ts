import { parentPort, workerData } from 'node:worker_threads'
import { startDnsServer, type DnsServerOptions } from './dns-server.js'
import { EMPTY_NAME_TABLE, nameTableFromEntries, type NameTable } from './registry.js'
import type { FromDnsThread, ToDnsThread } from './dns-host.js'

/**
 * The DNS server's thread: answers from the name table and TXT values the host thread posts, so
 * no DNS traffic, however hostile, costs the proxy's event loop anything. Query counts go back
 * once a second, not per query.
 */
const port = parentPort!
const opts = workerData as Omit<DnsServerOptions, 'table' | 'txt' | 'onQuery' | 'dockerSubnets'>
let table: NameTable = EMPTY_NAME_TABLE
let subnets: readonly string[] = []
let txt = new Map<string, readonly string[]>()
let counts: Record<string, number> = {}
const post = (m: FromDnsThread): void => { port.postMessage(m) }

port.on('message', (m: ToDnsThread) => {
  if (m.op === 'names') { table = nameTableFromEntries(m.generation, m.entries, m.held); subnets = m.subnets }
  else if (m.op === 'txt') txt = new Map(m.entries)
  post({ op: 'ack', seq: m.seq })
})

try {
  const server = await startDnsServer({
    ...opts,
    table: () => table,
    txt: name => txt.get(name),
    dockerSubnets: () => subnets,
    onQuery: rcode => { counts[rcode] = (counts[rcode] ?? 0) + 1 }
  })
  setInterval(() => {
    if (Object.keys(counts).length === 0) return
    post({ op: 'counts', counts })
    counts = {}
  }, 1000).unref()
  post({ op: 'listening', udpPort: server.udpPort, tcpPort: server.tcpPort })
} catch (err) {
  const e = err as NodeJS.ErrnoException
  post({ op: 'failed', message: e.message, code: e.code })
}
