import type { Forwarded } from './upstream-response.js'

export interface Cached { answer: Forwarded, storedAt: number }

/** Per entry on top of the answer's bytes: key, record offsets, map slot (an estimate). */
const ENTRY_OVERHEAD = 128

/**
 * Forwarded answers by question, kept within their TTL and within `maxBytes` in total: least
 * recently used entries go first. Expired entries are dropped when looked up or evicted.
 */
export class AnswerCache {
  readonly #entries = new Map<string, Cached>()
  readonly #maxBytes: number
  readonly #now: () => number
  #bytes = 0

  constructor (maxBytes: number, now: () => number) {
    this.#maxBytes = maxBytes
    this.#now = now
  }

  get size (): number { return this.#entries.size }
  get bytes (): number { return this.#bytes }

  get (key: string): Cached | undefined {
    const e = this.#entries.get(key)
    if (e === undefined) return undefined
    this.#entries.delete(key)
    if (this.#now() >= e.storedAt + e.answer.ttl * 1000) {
      this.#bytes -= cost(key, e)
      return undefined
    }
    this.#entries.set(key, e)
    return e
  }

  set (key: string, answer: Forwarded): void {
    if (answer.ttl <= 0) return
    const e = { answer, storedAt: this.#now() }
    const old = this.#entries.get(key)
    if (old !== undefined) { this.#entries.delete(key); this.#bytes -= cost(key, old) }
    if (cost(key, e) > this.#maxBytes) return
    this.#entries.set(key, e)
    this.#bytes += cost(key, e)
    for (const [k, v] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break
      this.#entries.delete(k)
      this.#bytes -= cost(k, v)
    }
  }
}

function cost (key: string, e: Cached): number {
  return ENTRY_OVERHEAD + key.length + e.answer.body.length + e.answer.ttlAt.length * 8
}
