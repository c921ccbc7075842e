import type { HealthSettings, MemberState } from '../router/index.js'

/** Timers, injected so the loop can be driven by tests and stopped without leaks. */
export interface Timers {
  set (fn: () => void, ms: number): unknown
  clear (handle: unknown): void
}

/** One probe's outcome: the status the member answered, or why it did not. */
export type ProbeResult = { status: number, error?: undefined } | { status?: undefined, error: string }

/** Sends one probe to exactly `origin` (never elsewhere: no redirects followed). */
export type Probe = (origin: string) => Promise<ProbeResult>

export interface CheckerDeps {
  timers: Timers
  probe: Probe
  now: () => number
  /** Every probe's result (metrics). */
  onResult?: ((origin: string, ok: boolean) => void) | undefined
  /** A member changed state (logs). */
  onChange?: ((origin: string, up: boolean, detail: string) => void) | undefined
}

/**
 * Active health checks of one pool: each member is probed every `interval` (a probe never
 * overlaps the next: the timeout is at most the interval), marked down after `unhealthyAfter`
 * consecutive failures and up again after `healthyAfter` consecutive successes. It only writes
 * the members' state; the request path reads it.
 */
export class PoolChecker {
  readonly #members: readonly MemberState[]
  readonly #s: HealthSettings
  readonly #deps: CheckerDeps
  readonly #timers = new Set<unknown>()
  #stopped = false

  constructor (members: readonly MemberState[], settings: HealthSettings, deps: CheckerDeps) {
    this.#members = members
    this.#s = settings
    this.#deps = deps
  }

  /** The first round starts at once (a new pool learns its members' state within one timeout). */
  start (): void {
    for (const m of this.#members) this.#schedule(m, 0)
  }

  stop (): void {
    this.#stopped = true
    for (const h of this.#timers) this.#deps.timers.clear(h)
    this.#timers.clear()
  }

  #schedule (m: MemberState, ms: number): void {
    if (this.#stopped) return
    const h = this.#deps.timers.set(() => { this.#timers.delete(h); void this.#check(m) }, ms)
    this.#timers.add(h)
  }

  async #check (m: MemberState): Promise<void> {
    const started = this.#deps.now()
    const r = await this.#deps.probe(m.origin).catch((err: Error): ProbeResult => ({ error: err.message }))
    if (this.#stopped) return
    this.record(m, r)
    this.#schedule(m, Math.max(0, this.#s.intervalMs - (this.#deps.now() - started)))
  }

  /** Applies one probe result to a member (public for the unit test of the thresholds). */
  record (m: MemberState, r: ProbeResult): void {
    const ok = r.status !== undefined && this.#s.expect.some(e => r.status >= e.from && r.status <= e.to)
    const detail = r.status !== undefined ? `status ${r.status}` : r.error
    m.lastCheck = { at: new Date(this.#deps.now()).toISOString(), ok, detail }
    this.#deps.onResult?.(m.origin, ok)
    if (ok) {
      m.okStreak++
      m.failStreak = 0
      if (!m.up && m.okStreak >= this.#s.healthyAfter) {
        m.up = true
        // It answers checks again: a passive mark from before is stale.
        m.downUntil = 0
        this.#deps.onChange?.(m.origin, true, detail)
      }
    } else {
      m.failStreak++
      m.okStreak = 0
      if (m.up && m.failStreak >= this.#s.unhealthyAfter) {
        m.up = false
        this.#deps.onChange?.(m.origin, false, detail)
      }
    }
  }
}
