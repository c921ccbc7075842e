import { Worker } from 'node:worker_threads'
import type { DnsServerOptions } from './dns-server.js'
import type { Candidate, NameTable } from './registry.js'

type Entries = ReadonlyArray<readonly [string, readonly Candidate[]]>

/** Host → DNS thread; every message is acknowledged with its `seq`. */
export type ToDnsThread =
  | { op: 'names', seq: number, generation: number, held: boolean, entries: Entries, subnets: readonly string[] }
  | { op: 'txt', seq: number, entries: Array<[string, readonly string[]]> }

/** DNS thread → host. */
export type FromDnsThread =
  | { op: 'listening', udpPort: number, tcpPort: number }
  | { op: 'failed', message: string, code: string | undefined }
  | { op: 'ack', seq: number }
  | { op: 'counts', counts: Record<string, number> }

export type DnsThreadOptions = Omit<DnsServerOptions, 'table' | 'txt' | 'onQuery' | 'dockerSubnets'> & {
  onCounts?: (counts: Record<string, number>) => void
  /** The thread ended without `close()` (a bug): DNS is down until the next restart or reload. */
  onCrash?: (err: Error) => void
}

export interface DnsThread {
  readonly udpPort: number
  readonly tcpPort: number
  /** Resolves once the thread answers from this table (and recurses for these Docker networks). */
  setNames: (table: NameTable, subnets?: readonly string[]) => Promise<void>
  /** Resolves once the thread answers these TXT values (ACME asks the CA to look only then). */
  setTxt: (entries: Array<[string, readonly string[]]>) => Promise<void>
  close: () => Promise<void>
}

/** Running from sources (tests) the thread's file is TypeScript too. */
const ENTRY = new URL(import.meta.url.endsWith('.ts') ? './dns-thread.ts' : './dns-thread.js', import.meta.url)

/**
 * Runs the DNS server on a worker thread of this process: its sockets, parsing and rate limiting
 * live on that thread's event loop, so a DNS flood cannot delay HTTP requests or the admin API.
 */
export async function startDnsThread (opts: DnsThreadOptions): Promise<DnsThread> {
  const { onCounts, onCrash, ...serverOpts } = opts
  const worker = new Worker(ENTRY, { workerData: serverOpts, name: 'portico-dns' })
  let seq = 0
  const acks = new Map<number, () => void>()
  let exited = false
  let closing = false
  let started = false
  const ports = await new Promise<{ udpPort: number, tcpPort: number }>((resolve, reject) => {
    worker.on('message', (m: FromDnsThread) => {
      if (m.op === 'listening') { started = true; resolve(m) }
      else if (m.op === 'failed') reject(Object.assign(new Error(m.message), { code: m.code }))
      else if (m.op === 'ack') { acks.get(m.seq)?.(); acks.delete(m.seq) }
      else onCounts?.(m.counts)
    })
    let error: Error | undefined
    worker.once('error', err => { error = err; reject(err) })
    worker.once('exit', code => {
      exited = true
      for (const done of acks.values()) done()
      acks.clear()
      const err = error ?? new Error(`DNS thread exited with code ${code}`)
      if (started && !closing) onCrash?.(err)
      reject(err)
    })
  }).catch(async err => { await worker.terminate(); throw err })
  const send = async (m: ToDnsThread): Promise<void> => {
    if (exited) return
    await new Promise<void>(resolve => { acks.set(m.seq, resolve); worker.postMessage(m) })
  }
  return {
    ...ports,
    setNames: async (table, subnets = []) => {
      await send({ op: 'names', seq: ++seq, generation: table.generation, held: table.held === true, entries: table.entries(), subnets })
    },
    setTxt: async entries => { await send({ op: 'txt', seq: ++seq, entries }) },
    close: async () => { closing = true; await worker.terminate() }
  }
}
