import type { IssuedPair, SharedStore } from '../acme/shared.js'
import type { CertState } from '../acme/state-file.js'
import type { Cluster } from './cluster.js'
import type { Mirror } from './mirror.js'
import type { SecretBox } from './secret.js'
import type { ClusterLog } from './types.js'

/** What an instance does with what others stored: the ACME manager's adopt/adoptState. */
export interface CertificateSink {
  adopt: (name: string, pair: IssuedPair) => Promise<unknown>
  adoptState: (name: string, state: CertState) => void
}

interface StoredBundle { fullchain: string, key: string, by: string, at: string }

const CERTS = 'certs/'
const STATE = 'acme/state/'

/**
 * The certificate store's etcd backend. Keys under the cluster prefix:
 * `certs/<name>` = { fullchain, key (sealed with the cluster secret), by, at },
 * `acme/state/<name>` = the renewal state (failures, backoff, drawn renewal time),
 * `locks/acme/<name>` = the order lock. Every instance mirrors both prefixes and installs what
 * another one stored (the local certbot-layout store stays the serving copy, so an instance whose
 * etcd is away keeps serving and restarting from it).
 */
export class ClusterCertificates implements SharedStore {
  readonly #cluster: Cluster
  readonly #box: SecretBox
  readonly #log: ClusterLog
  #mirrors: Mirror[] = []

  constructor (cluster: Cluster, box: SecretBox, log: ClusterLog) {
    this.#cluster = cluster
    this.#box = box
    this.#log = log
  }

  async underLock<T> (name: string, job: (store: (pair: IssuedPair) => Promise<boolean>) => Promise<T>): Promise<{ value: T } | { holder: string }> {
    const attempt = await this.#cluster.tryLock(`acme/${name}`)
    if (attempt.lock === undefined) return { holder: attempt.holder }
    const lock = attempt.lock
    try {
      return { value: await job(async pair => await lock.put(this.#cluster.prefix + CERTS + name, this.#encode(name, pair))) }
    } finally {
      await lock.release().catch(err => this.#log.warn({ name, err: (err as Error).message }, 'cluster: releasing the order lock failed (it goes with the lease)'))
    }
  }

  async fetch (name: string): Promise<IssuedPair | undefined> {
    const entry = await this.#cluster.get(CERTS + name)
    return entry === undefined ? undefined : this.#decode(name, entry.value)
  }

  async saveState (name: string, state: CertState): Promise<void> {
    await this.#cluster.put(STATE + name, JSON.stringify(state))
  }

  /** Stores a certificate without an order (`portico certs import`); no lock: an operator's act. */
  async put (name: string, pair: IssuedPair): Promise<void> {
    await this.#cluster.put(CERTS + name, this.#encode(name, pair))
  }

  /** Feeds what other instances store into `sink`; resolves once both prefixes were listed (or after `waitMs`). */
  async follow (sink: CertificateSink, waitMs: number): Promise<void> {
    await this.close() // a manager rebuilt by a reload replaces the previous one
    const certs = this.#cluster.mirror(CERTS, (entries, changed) => {
      for (const name of changed) {
        const value = entries.get(name)
        if (value === undefined) continue
        void (async () => { await sink.adopt(name, this.#decode(name, value)) })()
          .catch(err => this.#log.error({ name, err: (err as Error).message }, 'cluster: a stored certificate was refused'))
      }
    })
    const states = this.#cluster.mirror(STATE, (entries, changed) => {
      for (const name of changed) {
        const value = entries.get(name)
        try {
          if (value !== undefined) sink.adoptState(name, JSON.parse(value.toString()) as CertState)
        } catch (err) {
          this.#log.warn({ name, err: (err as Error).message }, 'cluster: unreadable renewal state ignored')
        }
      }
    })
    this.#mirrors = [certs, states]
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.all([certs.ready, states.ready]), new Promise(resolve => { timer = setTimeout(resolve, waitMs) })])
    clearTimeout(timer)
  }

  async close (): Promise<void> {
    for (const m of this.#mirrors) await m.close()
    this.#mirrors = []
  }

  #encode (name: string, pair: IssuedPair): string {
    const bundle: StoredBundle = { fullchain: pair.fullchain, key: this.#box.seal(pair.key, CERTS + name), by: this.#cluster.name, at: new Date().toISOString() }
    return JSON.stringify(bundle)
  }

  #decode (name: string, value: Buffer): IssuedPair {
    let bundle: StoredBundle
    try {
      bundle = JSON.parse(value.toString()) as StoredBundle
    } catch {
      throw new Error(`${name}: the stored certificate is not readable JSON`)
    }
    if (typeof bundle.fullchain !== 'string' || typeof bundle.key !== 'string') throw new Error(`${name}: the stored certificate lacks fullchain or key`)
    return { fullchain: bundle.fullchain, key: this.#box.open(bundle.key, CERTS + name) }
  }
}
