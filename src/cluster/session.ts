import type { Etcd3, Lease } from 'etcd3'
import { Backoff } from './backoff.js'
import type { ClusterLog } from './types.js'

export interface SessionOptions {
  client: Etcd3
  ttlMs: number
  log: ClusterLog
  /** Called with each newly granted lease id (re-publish what lives under it). */
  onLease: (leaseId: string) => Promise<void>
  /** Called when the current lease is gone (expired, revoked, or unreachable past its TTL). */
  onLost: () => void
  /** Connection health: true after a successful call, false with the error after a failed one. */
  onHealth: (ok: boolean, err?: Error) => void
  now?: () => number
  random?: () => number
}

/**
 * The instance's lease, kept forever: granted, kept alive every TTL/3, and granted anew (with
 * backoff) whenever it is lost. It is considered lost as soon as a TTL has passed without a
 * successful keepalive: the server has expired it by then, whatever the client library thinks.
 */
export class Session {
  #lease: { lease: Lease, id: string } | undefined
  #previous: Lease | undefined
  #closed = false
  readonly #wake = new AbortController()
  readonly #done: Promise<void>
  readonly #o: SessionOptions
  readonly #now: () => number

  constructor (o: SessionOptions) {
    this.#o = o
    this.#now = o.now ?? Date.now
    this.#done = this.#run()
  }

  /** The lease id while it is believed alive. */
  get leaseId (): string | undefined { return this.#lease?.id }

  async #run (): Promise<void> {
    const backoff = new Backoff(200, Math.max(1000, this.#o.ttlMs), this.#o.random)
    // A lease given up while etcd was away may live on: etcd restarts every lease's TTL when it
    // elects a leader. It is revoked once its successor holds our keys, so nothing lingers under it.
    while (!this.#closed) {
      const lease = this.#o.client.lease(Math.ceil(this.#o.ttlMs / 1000), { autoKeepAlive: false })
      lease.on('lost', () => {}) // reported by keepaliveOnce's rejection; an unheard 'lost' is harmless
      try {
        const id = await lease.grant()
        if (this.#closed) { await lease.revoke().catch(() => {}); return }
        this.#lease = { lease, id }
        this.#o.onHealth(true)
        backoff.reset()
        this.#o.log.info({ lease: id }, 'cluster: lease granted')
        await this.#o.onLease(id)
        await this.#previous?.revoke().catch(() => {})
        this.#previous = undefined
        await this.#keepAlive(lease)
      } catch (err) {
        this.#o.onHealth(false, err as Error)
      }
      if (this.#lease?.lease === lease) {
        this.#lease = undefined
        this.#o.log.warn('cluster: lease lost; granting a new one')
        this.#o.onLost()
      }
      lease.release()
      this.#previous ??= lease
      if (!this.#closed) await this.#sleep(backoff.next())
    }
  }

  /** Returns when the lease is lost or the session closes. */
  async #keepAlive (lease: Lease): Promise<void> {
    let lastOk = this.#now()
    const every = Math.max(200, Math.floor(this.#o.ttlMs / 3))
    while (!this.#closed) {
      await this.#sleep(every)
      if (this.#closed) return
      try {
        await lease.keepaliveOnce({ deadline: new Date(this.#now() + every) })
        lastOk = this.#now()
        this.#o.onHealth(true)
      } catch (err) {
        this.#o.onHealth(false, err as Error)
        if ((err as Error).name === 'EtcdLeaseInvalidError' || this.#now() - lastOk >= this.#o.ttlMs) return
      }
    }
  }

  async #sleep (ms: number): Promise<void> {
    await new Promise<void>(resolve => {
      const timer = setTimeout(resolve, ms)
      this.#wake.signal.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
    })
  }

  /** Revokes the lease (what lives under it disappears at once) and stops. */
  async close (): Promise<void> {
    this.#closed = true
    this.#wake.abort()
    const current = this.#lease
    this.#lease = undefined
    await this.#done
    if (current !== undefined) await current.lease.revoke().catch(() => {})
    await this.#previous?.revoke().catch(() => {})
  }
}
