import cluster, { type Worker } from 'node:cluster'
import { DispatcherRegistry } from '../router/index.js'
import { SnapshotStore } from '../snapshot/index.js'
import type { NameTable } from '../dns/index.js'
import type { Logger } from '../log/logger.js'
import type { BuiltSnapshot } from './build-snapshot.js'
import type { ServingStats } from '../admin/index.js'
import type { Prepared } from './serving.js'
import type { ConfigSource, MetricsJson, ServingBackend } from './backend.js'
import { isPorticoMessage, type FromWorker, type NameEntries, type ToWorker } from './ipc.js'

type Reply = Extract<FromWorker, { op: 'reply' }>
type Request = Extract<ToWorker, { id: number }>

interface Slot { index: number, worker: Worker, startedAt: number }
interface Waiting { resolve: (r: Reply) => void, reject: (e: Error) => void, timer: NodeJS.Timeout, workerId: number }

const HELLO_TIMEOUT_MS = 30_000
const PREPARE_TIMEOUT_MS = 60_000
const QUERY_TIMEOUT_MS = 3_000
/** A worker that ran this long before dying resets the respawn backoff. */
const STABLE_MS = 30_000

/**
 * `workers: N` (primary side): N worker processes (node:cluster), each serving every listener on
 * its own SO_REUSEPORT socket. The primary keeps config, Docker, DNS, ACME and admin; workers get
 * snapshots as config text + name table + HTTP-01 answers and compile them themselves.
 * A reload is prepared by all workers, then committed by all, or aborted by all. One operation
 * at a time (a lock), so a respawned worker never catches up with a half-applied reload.
 */
export class WorkerPool implements ServingBackend {
  readonly store = new SnapshotStore()
  /** Compiles the daemon's control copy of each snapshot; these pools never connect. */
  readonly dispatchers = new DispatcherRegistry()
  readonly #count: number
  readonly #log: Logger
  readonly #slots = new Map<number, Slot>()
  /** Pending requests by `workerId:id` (one prepare id goes to every worker). */
  readonly #waiting = new Map<string, Waiting>()
  #nextId = 1
  #lock: Promise<void> = Promise.resolve()
  #committed: { config: ConfigSource, generation: number } | undefined
  #names: { entries: NameEntries, generation: number, held: boolean } = { entries: [], generation: 0, held: false }
  #http: Array<[string, string]> = []
  #failures = 0
  #respawns = 0
  #stopping = false

  constructor (count: number, log: Logger) {
    this.#count = count
    this.#log = log
  }

  /** Workers count (and the aggregation sums) their own connections. */
  localConnections (): number { return 0 }
  workers (): { configured: number, pids: number[], respawns: number } {
    return { configured: this.#count, pids: [...this.#slots.values()].map(s => s.worker.process.pid ?? 0), respawns: this.#respawns }
  }

  /** Forks the workers; they serve nothing until the first `prepare`/`commit`. */
  async start (): Promise<void> {
    await Promise.all(Array.from({ length: this.#count }, async (_, i) => { await this.#fork(i) }))
  }

  async prepare (config: ConfigSource, built: BuiltSnapshot): Promise<Prepared> {
    const release = await this.#acquire()
    const slots = [...this.#slots.values()]
    const generation = built.snapshot.generation
    const id = this.#nextId++
    const results = await Promise.allSettled(slots.map(async s => await this.#request(s.worker, { op: 'prepare', id, ...config, generation, ...this.#namesAndHttp() }, PREPARE_TIMEOUT_MS)))
    const failed = results.map((r, i) => r.status === 'rejected' ? `worker ${slots[i]!.worker.process.pid ?? '?'}: ${(r.reason as Error).message}` : undefined).find(x => x !== undefined)
    const abort = async (): Promise<void> => {
      try {
        await Promise.allSettled(slots.map(async s => await this.#request(s.worker, { op: 'abort', id }, PREPARE_TIMEOUT_MS)))
      } finally { release() }
    }
    if (failed !== undefined) {
      await abort()
      throw new Error(failed)
    }
    return {
      commit: async () => {
        this.#committed = { config, generation }
        this.store.swap(built.snapshot)
        this.dispatchers.retain(built.dispatcherKeys)
        try {
          // A worker that dies here is respawned from #committed, so it cannot miss this reload.
          await Promise.allSettled(slots.map(async s => await this.#request(s.worker, { op: 'commit', id }, PREPARE_TIMEOUT_MS)))
        } finally { release() }
      },
      abort
    }
  }

  setNames (names: NameTable, generation: number): void {
    this.#names = { entries: names.entries(), generation: names.generation, held: names.held === true }
    if (this.store.loaded) this.store.swap({ ...this.store.current, names, generation })
    for (const s of this.#slots.values()) this.#send(s.worker, { op: 'names', entries: this.#names.entries, namesGeneration: names.generation, namesHeld: this.#names.held, generation })
  }

  async publishHttp (entries: Array<[string, string]>): Promise<void> {
    this.#http = entries
    await Promise.all([...this.#slots.values()].map(async s => {
      await this.#request(s.worker, { op: 'acme-http', id: this.#nextId++, entries }, QUERY_TIMEOUT_MS).catch(err => {
        this.#log.warn({ err, pid: s.worker.process.pid }, 'worker did not take the HTTP-01 answers')
      })
    }))
  }

  async stats (): Promise<ServingStats[]> {
    const replies = await this.#queryAll(false)
    return replies.flatMap(r => r.stats === undefined ? [] : [r.stats])
  }

  async remoteMetrics (): Promise<MetricsJson[]> {
    const replies = await this.#queryAll(true)
    return replies.flatMap(r => r.metrics === undefined ? [] : [r.metrics])
  }

  reopenLogs (): void {
    for (const s of this.#slots.values()) this.#send(s.worker, { op: 'reopen-logs' })
  }

  /** Every worker drains (up to `drainMs`) and exits; stragglers are killed. */
  async stop (drainMs: number): Promise<void> {
    this.#stopping = true
    const exits = [...this.#slots.values()].map(async s => await new Promise<void>(resolve => {
      if (s.worker.isDead()) { resolve(); return }
      const timer = setTimeout(() => { s.worker.process.kill('SIGKILL'); resolve() }, drainMs + 5_000)
      s.worker.once('exit', () => { clearTimeout(timer); resolve() })
      this.#send(s.worker, { op: 'stop', drainMs })
    }))
    await Promise.all(exits)
    await this.dispatchers.closeAll()
  }

  #namesAndHttp (): { names: NameEntries, namesGeneration: number, namesHeld: boolean, acmeHttp: Array<[string, string]> } {
    return { names: this.#names.entries, namesGeneration: this.#names.generation, namesHeld: this.#names.held, acmeHttp: this.#http }
  }

  /** `metrics`: also the worker's prom-client registry (collecting it is work /readyz need not pay). */
  async #queryAll (metrics: boolean): Promise<Reply[]> {
    const settled = await Promise.allSettled([...this.#slots.values()].map(async s => await this.#request(s.worker, { op: 'stats', id: this.#nextId++, metrics }, QUERY_TIMEOUT_MS)))
    return settled.flatMap(r => r.status === 'fulfilled' ? [r.value] : [])
  }

  async #acquire (): Promise<() => void> {
    let release!: () => void
    const previous = this.#lock
    this.#lock = new Promise<void>(resolve => { release = resolve })
    await previous
    return release
  }

  async #fork (index: number): Promise<Worker> {
    const worker = cluster.fork({ PORTICO_WORKER_INDEX: String(index) })
    const slot: Slot = { index, worker, startedAt: Date.now() }
    this.#slots.set(index, slot)
    worker.on('message', (m: unknown) => { if (isPorticoMessage(m)) this.#onMessage(worker, m as FromWorker) })
    worker.once('exit', (code, signal) => { this.#onExit(slot, code, signal) })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`worker ${index} did not start within ${HELLO_TIMEOUT_MS} ms`)) }, HELLO_TIMEOUT_MS)
      const hello = (m: unknown): void => {
        if (!isPorticoMessage(m) || m.op !== 'hello') return
        clearTimeout(timer)
        worker.off('message', hello)
        resolve()
      }
      worker.on('message', hello)
      worker.once('exit', () => { clearTimeout(timer); reject(new Error(`worker ${index} exited during startup`)) })
    })
    this.#log.info({ worker: index, pid: worker.process.pid }, 'worker started')
    return worker
  }

  #onMessage (worker: Worker, m: FromWorker): void {
    if (m.op !== 'reply') return
    const key = `${worker.id}:${m.id}`
    const w = this.#waiting.get(key)
    if (w === undefined) return
    this.#waiting.delete(key)
    clearTimeout(w.timer)
    if (m.ok) w.resolve(m); else w.reject(new Error(m.error ?? 'failed'))
  }

  #onExit (slot: Slot, code: number | null, signal: string | null): void {
    if (this.#slots.get(slot.index) === slot) this.#slots.delete(slot.index)
    for (const [id, w] of this.#waiting) {
      if (w.workerId !== slot.worker.id) continue
      this.#waiting.delete(id)
      clearTimeout(w.timer)
      w.reject(new Error('worker exited'))
    }
    if (this.#stopping) return
    if (Date.now() - slot.startedAt > STABLE_MS) this.#failures = 0
    const delay = Math.min(30_000, 100 * 2 ** this.#failures++)
    this.#log.error({ worker: slot.index, pid: slot.worker.process.pid, code, signal, respawn_in_ms: delay }, 'worker exited unexpectedly; respawning')
    setTimeout(() => { void this.#respawn(slot.index) }, delay).unref()
  }

  /** A replacement worker catches up with the committed snapshot before it serves. */
  async #respawn (index: number): Promise<void> {
    if (this.#stopping) return
    const release = await this.#acquire()
    let worker: Worker | undefined
    try {
      worker = await this.#fork(index)
      const committed = this.#committed
      if (committed !== undefined) {
        const id = this.#nextId++
        await this.#request(worker, { op: 'prepare', id, ...committed.config, generation: committed.generation, ...this.#namesAndHttp() }, PREPARE_TIMEOUT_MS)
        await this.#request(worker, { op: 'commit', id }, PREPARE_TIMEOUT_MS)
      }
      this.#respawns++
      this.#log.info({ worker: index, pid: worker.process.pid }, 'worker respawned')
    } catch (err) {
      this.#log.error({ err, worker: index }, 'respawned worker failed to start')
      worker?.process.kill('SIGKILL') // its exit schedules the next attempt, with backoff
    } finally { release() }
  }

  async #request (worker: Worker, msg: Request, timeoutMs: number): Promise<Reply> {
    const key = `${worker.id}:${msg.id}`
    return await new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(key)
        reject(new Error(`no answer to ${msg.op} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#waiting.set(key, { resolve, reject, timer, workerId: worker.id })
      if (!this.#send(worker, msg)) {
        this.#waiting.delete(key)
        clearTimeout(timer)
        reject(new Error('worker is gone'))
      }
    })
  }

  #send (worker: Worker, msg: ToWorker): boolean {
    if (worker.isDead() || !worker.isConnected()) return false
    try { worker.send(msg) } catch { return false }
    return true
  }
}
