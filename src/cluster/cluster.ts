import type { Etcd3 } from 'etcd3'
import { Mirror, type MirrorListener } from './mirror.js'
import { Session } from './session.js'
import { tryLock, type LockAttempt } from './lock.js'
import type { ClusterHealth, ClusterLog, Entry } from './types.js'

export interface ClusterOptions {
  /** This instance's name (unique among running instances). */
  name: string
  /** Key prefix, with its trailing slash: every key below is relative to it. */
  prefix: string
  leaseTtlMs: number
  log: ClusterLog
  now?: () => number
  random?: () => number
}

/**
 * One instance's membership of the cluster: the etcd client, the instance lease (a session kept
 * forever), keys published under that lease (put again under each new lease), locks, mirrors.
 * Every key argument is relative to the prefix.
 */
export class Cluster {
  readonly name: string
  readonly prefix: string
  readonly #client: Etcd3
  readonly #session: Session
  readonly #published = new Map<string, Buffer>()
  readonly #mirrors = new Set<Mirror>()
  readonly #log: ClusterLog
  readonly #now: () => number
  readonly #random: (() => number) | undefined
  readonly #leaseTtlMs: number
  #health: { connected: boolean, since: number, lastError: string | null }
  #leaseWaiters: Array<(id: string) => void> = []
  #sync: { at: number, revision: string } | undefined

  constructor (client: Etcd3, o: ClusterOptions) {
    this.#client = client
    this.name = o.name
    this.prefix = o.prefix
    this.#log = o.log
    this.#now = o.now ?? Date.now
    this.#random = o.random
    this.#leaseTtlMs = o.leaseTtlMs
    this.#health = { connected: false, since: this.#now(), lastError: null }
    this.#session = new Session({
      client,
      ttlMs: o.leaseTtlMs,
      log: o.log,
      now: this.#now,
      ...(o.random === undefined ? {} : { random: o.random }),
      onHealth: (ok, err) => { this.#setHealth(ok, err) },
      onLease: async id => await this.#onLease(id),
      onLost: () => {}
    })
  }

  health (): ClusterHealth {
    const h = this.#health
    const s = this.#sync
    return {
      instance: this.name, connected: h.connected, since: new Date(h.since).toISOString(), lastError: h.lastError, lease: this.#session.leaseId ?? null,
      lastSync: s === undefined ? null : new Date(s.at).toISOString(), revision: s?.revision ?? null
    }
  }

  async get (key: string): Promise<Entry | undefined> {
    const res = await this.#call(async () => await this.#client.get(this.prefix + key).exec())
    const kv = res.kvs[0]
    return kv === undefined ? undefined : { key, value: kv.value, modRevision: kv.mod_revision }
  }

  async list (prefix: string): Promise<Entry[]> {
    const res = await this.#call(async () => await this.#client.getAll().prefix(this.prefix + prefix).exec())
    return res.kvs.map(kv => ({ key: kv.key.toString().slice(this.prefix.length), value: kv.value, modRevision: kv.mod_revision }))
  }

  async put (key: string, value: Buffer | string): Promise<void> {
    await this.#call(async () => await this.#client.put(this.prefix + key).value(value).exec())
  }

  async delete (key: string): Promise<void> {
    await this.#call(async () => await this.#client.delete().key(this.prefix + key).exec())
  }

  /**
   * Puts `key` under the instance lease: it disappears when this instance stops or loses etcd for
   * longer than the lease TTL, and is put again under every new lease. Without a lease right now
   * it is only remembered (put as soon as a lease is granted).
   */
  async publish (key: string, value: Buffer | string): Promise<void> {
    const v = Buffer.from(value)
    this.#published.set(key, v)
    const lease = this.#session.leaseId
    if (lease !== undefined) await this.#call(async () => await this.#client.put(this.prefix + key).value(v).lease(lease).exec())
  }

  async unpublish (key: string): Promise<void> {
    this.#published.delete(key)
    await this.delete(key)
  }

  /**
   * Takes the lock `name` (held under the instance lease) if nobody holds it; otherwise returns the
   * holder's instance name. Throws when etcd cannot be reached or this instance has no lease.
   */
  async tryLock (name: string): Promise<LockAttempt> {
    const lease = this.#session.leaseId ?? await this.#nextLease()
    return await this.#call(async () => await tryLock(this.#client, `${this.prefix}locks/${name}`, this.name, lease))
  }

  /** A live copy of the keys under `prefix` (see Mirror); closed with the cluster. */
  mirror (prefix: string, listener: MirrorListener): Mirror {
    const m = new Mirror(this.#client, this.prefix + prefix, listener, this.#log, this.#random, revision => {
      if (this.#sync === undefined || BigInt(revision) >= BigInt(this.#sync.revision)) this.#sync = { at: this.#now(), revision }
      this.#setHealth(true)
    })
    this.#mirrors.add(m)
    return m
  }

  /** Stops: mirrors closed, lease revoked (published keys and held locks go at once), client closed. */
  async close (): Promise<void> {
    for (const m of this.#mirrors) await m.close()
    await this.#session.close()
    this.#client.close()
  }

  async #onLease (id: string): Promise<void> {
    for (const [key, value] of this.#published) await this.#client.put(this.prefix + key).value(value).lease(id).exec()
    for (const w of this.#leaseWaiters.splice(0)) w(id)
  }

  /** Waits for the next granted lease, at most one lease TTL (then: etcd is away). */
  async #nextLease (): Promise<string> {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#leaseWaiters = this.#leaseWaiters.filter(w => w !== waiter)
        reject(new Error(`no etcd lease: ${this.#health.lastError ?? 'etcd unreachable'}`))
      }, this.#leaseTtlMs)
      const waiter = (id: string): void => { clearTimeout(timer); resolve(id) }
      this.#leaseWaiters.push(waiter)
    })
  }

  async #call<T> (fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn()
      this.#setHealth(true)
      return result
    } catch (err) {
      this.#setHealth(false, err as Error)
      throw err
    }
  }

  #setHealth (ok: boolean, err?: Error): void {
    if (ok !== this.#health.connected) {
      this.#log[ok ? 'info' : 'warn']({ instance: this.name, ...(err === undefined ? {} : { err: err.message }) }, ok ? 'cluster: etcd reachable' : 'cluster: etcd unreachable')
      this.#health = { ...this.#health, connected: ok, since: this.#now() }
    }
    if (err !== undefined) this.#health.lastError = err.message
  }
}
