/**
 * Reconnect delays: exponential from `minMs` to `maxMs` with full jitter, so instances that lost
 * etcd together do not all come back in the same millisecond. Pure: the caller owns the timer.
 */
export class Backoff {
  #attempt = 0
  readonly minMs: number
  readonly maxMs: number
  readonly #random: () => number

  constructor (minMs = 200, maxMs = 30_000, random: () => number = Math.random) {
    this.minMs = minMs
    this.maxMs = maxMs
    this.#random = random
  }

  /** The next delay; grows until `reset()`. */
  next (): number {
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.#attempt, 30))
    this.#attempt++
    return Math.round(this.minMs / 2 + this.#random() * (ceiling - this.minMs / 2))
  }

  reset (): void { this.#attempt = 0 }

  get attempts (): number { return this.#attempt }
}
