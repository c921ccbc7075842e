import { randomInt } from 'node:crypto'
import { AnswerCache, type Cached } from './answer-cache.js'
import { exchangeTcp, exchangeUdp, type Outcome, type Upstream } from './upstream-exchange.js'
import { RCODE, type Query } from './wire.js'

/** Plain data (it crosses to the DNS thread as workerData). */
export interface ForwardOptions {
  upstreams: Upstream[]
  /** Per upstream and attempt; then the next upstream is asked. */
  timeoutMs: number
  /** Distinct questions being asked upstream at once; beyond that SERVFAIL at once. */
  maxInflight: number
  cacheBytes: number
  /** Caps in seconds: positive answers, and negative ones (RFC 2308). */
  maxTtl: number
  negativeTtl: number
}

/** Clients waiting on one question already being asked upstream. */
const MAX_WAITERS = 64
/** An upstream that timed out is asked last for this long (a dead first forwarder costs one timeout, not one per query). */
const PENALTY_MS = 10_000

/**
 * Forwards questions outside portico's zone to the configured resolvers: answers from the cache
 * while their TTL lasts, one upstream query per distinct question in flight (later askers wait
 * for it), UDP first with TCP after a truncated answer, the next upstream after a timeout, an
 * error, a malformed answer, SERVFAIL or REFUSED. `done(undefined)`: nobody answered (SERVFAIL).
 * Everything is callbacks on the DNS thread's loop: a dead upstream holds timers, not the loop.
 */
export class Forwarder {
  readonly #opts: ForwardOptions
  readonly #now: () => number
  readonly #cache: AnswerCache
  readonly #inflight = new Map<string, Array<(c: Cached | undefined) => void>>()
  readonly #penalised: number[]

  constructor (opts: ForwardOptions, now: () => number = Date.now) {
    this.#opts = opts
    this.#now = now
    this.#cache = new AnswerCache(opts.cacheBytes, now)
    this.#penalised = opts.upstreams.map(() => 0)
  }

  forward (q: Query, done: (c: Cached | undefined) => void): void {
    const key = `${q.type}/${q.name}`
    const hit = this.#cache.get(key)
    if (hit !== undefined) { done(hit); return }
    const waiting = this.#inflight.get(key)
    if (waiting !== undefined) {
      if (waiting.length >= MAX_WAITERS) done(undefined); else waiting.push(done)
      return
    }
    if (this.#inflight.size >= this.#opts.maxInflight) { done(undefined); return }
    const waiters = [done]
    this.#inflight.set(key, waiters)
    this.#ask(this.#order(), 0, q.question, answer => {
      this.#inflight.delete(key)
      let cached: Cached | undefined
      if (answer !== undefined) {
        this.#cache.set(key, answer)
        cached = { answer, storedAt: this.#now() }
      }
      for (const w of waiters) w(cached)
    })
  }

  /** Upstream indexes, configured order, those that recently timed out last. */
  #order (): number[] {
    const now = this.#now()
    const all = this.#opts.upstreams.map((_, i) => i)
    return [...all.filter(i => this.#penalised[i]! <= now), ...all.filter(i => this.#penalised[i]! > now)]
  }

  #ask (order: number[], at: number, question: Buffer, done: (a: Cached['answer'] | undefined) => void): void {
    const index = order[at]
    if (index === undefined) { done(undefined); return }
    const up = this.#opts.upstreams[index]!
    const next = (): void => { this.#ask(order, at + 1, question, done) }
    const settle = (o: Outcome, viaTcp: boolean): void => {
      if (o.kind === 'truncated' && !viaTcp) {
        exchangeTcp(up, randomInt(0x10000), question, this.#opts.timeoutMs, this.#opts, r => { settle(r, true) })
        return
      }
      if (o.kind === 'timeout') this.#penalised[index] = this.#now() + PENALTY_MS
      if (o.kind !== 'answer' || o.answer.rcode === RCODE.SERVFAIL || o.answer.rcode === RCODE.REFUSED) { next(); return }
      this.#penalised[index] = 0
      done(o.answer)
    }
    exchangeUdp(up, randomInt(0x10000), question, this.#opts.timeoutMs, this.#opts, o => { settle(o, false) })
  }
}
