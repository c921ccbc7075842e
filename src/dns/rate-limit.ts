/**
 * Token buckets per source address: `perSecond` queries sustained, `burst` at once. The table is
 * bounded: beyond `maxSources` addresses it starts over (a flood from many addresses then gets
 * fresh buckets, which is no worse than no limit, and memory stays flat). `now` is injected.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number, at: number }>()
  readonly #perMs: number
  readonly #burst: number
  readonly #maxSources: number
  readonly #now: () => number

  constructor (perSecond: number, burst: number, now: () => number = Date.now, maxSources = 65_536) {
    this.#perMs = perSecond / 1000
    this.#burst = burst
    this.#now = now
    this.#maxSources = maxSources
  }

  /** Takes one token for `source`; false: over its rate, drop the query. */
  allow (source: string): boolean {
    const now = this.#now()
    let b = this.#buckets.get(source)
    if (b === undefined) {
      if (this.#buckets.size >= this.#maxSources) this.#buckets.clear()
      b = { tokens: this.#burst, at: now }
      this.#buckets.set(source, b)
    } else {
      b.tokens = Math.min(this.#burst, b.tokens + (now - b.at) * this.#perMs)
      b.at = now
    }
    if (b.tokens < 1) return false
    b.tokens--
    return true
  }
}
