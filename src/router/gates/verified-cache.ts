import { createHash } from 'node:crypto'

/**
 * Recently verified Authorization headers, so a keep-alive client does not pay a bcrypt
 * verification per request. Keyed by a SHA-256 of the header (the password is never kept),
 * bounded in size (the oldest entry goes first) and in time.
 */
export class VerifiedCache {
  readonly #entries = new Map<string, { user: string, until: number }>()
  readonly #ttlMs: number
  readonly #max: number
  readonly #now: () => number
  constructor (ttlMs: number, max: number, now: () => number = Date.now) {
    this.#ttlMs = ttlMs
    this.#max = max
    this.#now = now
  }

  static key (header: string): string {
    return createHash('sha256').update(header).digest('base64')
  }

  get (key: string): string | undefined {
    const e = this.#entries.get(key)
    if (e === undefined) return undefined
    if (e.until > this.#now()) return e.user
    this.#entries.delete(key)
    return undefined
  }

  set (key: string, user: string): void {
    if (this.#ttlMs <= 0) return
    this.#entries.delete(key)
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value as string)
    this.#entries.set(key, { user, until: this.#now() + this.#ttlMs })
  }

  get size (): number { return this.#entries.size }
}
