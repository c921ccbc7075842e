import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3'
import { Backoff } from './backoff.js'
import type { ClusterLog } from './types.js'

export type MirrorListener = (entries: ReadonlyMap<string, Buffer>, changed: readonly string[]) => void

/**
 * A live copy of every key under one prefix: listed once, then watched from the listed revision
 * on. The watch resumes from the last revision it saw after a reconnect (no event is lost while
 * etcd is away); when etcd cannot replay that far (the revision was compacted) or cancels the
 * watch, the mirror lists again and reports every key that changed meanwhile. Keys in the map are
 * relative to the prefix. The listener runs after each applied batch, never for an empty one.
 */
export class Mirror {
  #entries = new Map<string, Buffer>()
  #watcher: Watcher | undefined
  #revision = '0'
  #closed = false
  #timer: NodeJS.Timeout | undefined
  readonly #backoff: Backoff
  /** Resolves after the first successful listing. */
  readonly ready: Promise<void>
  #markReady: () => void = () => {}

  readonly #client: Etcd3
  readonly #prefix: string
  readonly #listener: MirrorListener
  readonly #log: ClusterLog
  readonly #onSync: (revision: string) => void

  /** `onSync`: after each listing and each applied watch response, with the revision (cluster health). */
  constructor (client: Etcd3, prefix: string, listener: MirrorListener, log: ClusterLog, random?: () => number, onSync?: (revision: string) => void) {
    this.#client = client
    this.#prefix = prefix
    this.#listener = listener
    this.#log = log
    this.#onSync = onSync ?? (() => {})
    // Capped low: a mirror that has not listed yet cannot serve (challenge answers, certificates).
    this.#backoff = new Backoff(200, 2000, random)
    this.ready = new Promise(resolve => { this.#markReady = resolve })
    void this.#sync()
  }

  get entries (): ReadonlyMap<string, Buffer> { return this.#entries }
  /** The etcd revision the copy is at. */
  get revision (): string { return this.#revision }

  async #sync (): Promise<void> {
    if (this.#closed) return
    try {
      const res = await this.#client.getAll().prefix(this.#prefix).exec()
      if (this.#closed) return
      const next = new Map(res.kvs.map(kv => [this.#relative(kv), kv.value] as const))
      const changed = [...new Set([...next.keys(), ...this.#entries.keys()])].filter(k => !sameValue(next.get(k), this.#entries.get(k)))
      this.#entries = next
      this.#revision = res.header.revision
      await this.#watch(BigInt(res.header.revision) + 1n)
      this.#backoff.reset()
      this.#onSync(this.#revision)
      this.#markReady()
      if (changed.length > 0) this.#listener(this.#entries, changed)
    } catch (err) {
      this.#log.warn({ prefix: this.#prefix, err: (err as Error).message }, 'cluster: listing failed; retrying')
      this.#retry()
    }
  }

  async #watch (from: bigint): Promise<void> {
    await this.#watcher?.cancel().catch(() => {})
    const watcher = await this.#client.watch().prefix(this.#prefix).startRevision(from.toString()).create()
    if (this.#closed) { await watcher.cancel().catch(() => {}); return }
    this.#watcher = watcher
    watcher.on('data', res => { this.#apply(res) })
    watcher.on('disconnected', err => { this.#log.debug({ prefix: this.#prefix, err: err.message }, 'cluster: watch disconnected; resuming') })
    // A cancelled watch (compaction past our revision, a lost auth token): list again.
    watcher.on('error', err => {
      if (this.#watcher !== watcher) return
      this.#watcher = undefined
      this.#log.warn({ prefix: this.#prefix, err: err.message }, 'cluster: watch cancelled; listing again')
      void watcher.cancel().catch(() => {})
      this.#retry()
    })
  }

  #apply (res: IWatchResponse): void {
    const changed: string[] = []
    for (const ev of res.events) {
      const key = this.#relative(ev.kv)
      if (ev.type === 'Put') this.#entries.set(key, ev.kv.value)
      else this.#entries.delete(key)
      changed.push(key)
    }
    this.#revision = res.header.revision
    this.#onSync(this.#revision)
    if (changed.length > 0) this.#listener(this.#entries, changed)
  }

  #retry (): void {
    if (this.#closed) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => { void this.#sync() }, this.#backoff.next())
  }

  #relative (kv: IKeyValue): string { return kv.key.toString().slice(this.#prefix.length) }

  async close (): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    await this.#watcher?.cancel().catch(() => {})
    this.#watcher = undefined
  }
}

function sameValue (a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b)
}
