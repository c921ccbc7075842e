import type { Etcd3 } from 'etcd3'

/**
 * A held lock: a key created under the instance lease (it dies with its holder). Its create
 * revision is the fencing token: every write made "under the lock" is a transaction that first
 * compares the lock key's create revision with it, so a holder whose lease expired while it
 * worked (a long pause, a partition) can no longer write its result over its successor's.
 */
export class Lock {
  readonly #client: Etcd3
  readonly key: string
  readonly revision: string

  constructor (client: Etcd3, key: string, revision: string) {
    this.#client = client
    this.key = key
    this.revision = revision
  }

  /** Writes `value` at `key` (absolute) only while this lock is still held; false when it is not. */
  async put (key: string, value: Buffer | string): Promise<boolean> {
    const res = await this.#client.if(this.key, 'Create', '==', this.revision).then(this.#client.put(key).value(value)).commit()
    return res.succeeded
  }

  /** Whether the lock key is still the one this lock created. */
  async held (): Promise<boolean> {
    const res = await this.#client.if(this.key, 'Create', '==', this.revision).commit()
    return res.succeeded
  }

  /** Deletes the lock key if it is still ours (never a successor's). */
  async release (): Promise<void> {
    await this.#client.if(this.key, 'Create', '==', this.revision).then(this.#client.delete().key(this.key)).commit()
  }
}

export type LockAttempt = { lock: Lock, holder?: undefined } | { lock?: undefined, holder: string }

/** Creates the lock key under `leaseId` unless it exists; otherwise says who holds it. */
export async function tryLock (client: Etcd3, key: string, owner: string, leaseId: string): Promise<LockAttempt> {
  const res = await client.if(key, 'Create', '==', 0)
    .then(client.put(key).value(owner).lease(leaseId))
    .else(client.get(key))
    .commit()
  if (res.succeeded) return { lock: new Lock(client, key, res.header.revision) }
  return { holder: res.responses[0]?.response_range.kvs[0]?.value.toString() ?? '(released)' }
}
