import type { MemberState, RouteTable, UpstreamPool, UpstreamSettings, HealthSettings } from '../router/index.js'
import { PoolChecker, type Probe, type Timers } from './checker.js'

/** One member as the status page and metrics show it. */
export interface UpstreamReport {
  route: string
  upstream: string
  /** What the request path does with it: `up`, `down` (checks failed), `marked` (a recent connect failure). */
  state: 'up' | 'down' | 'marked'
  checked: boolean
  inflight: number
  okStreak: number
  failStreak: number
  lastCheck: { at: string, ok: boolean, detail: string } | null
}

export interface HealthDeps {
  timers: Timers
  now: () => number
  /** A probe function for one pool's settings, and how to release what it holds. */
  probeFor: (h: HealthSettings, up: UpstreamSettings) => { probe: Probe, close: () => Promise<void> }
  onResult?: (route: string, origin: string, ok: boolean) => void
  onChange?: (route: string, origin: string, up: boolean, detail: string) => void
}

interface Entry { route: string, pool: UpstreamPool, checker: PoolChecker | undefined, close: (() => Promise<void>) | undefined }

/**
 * The pools of the serving snapshot and their checks, across reloads. A new snapshot's pool
 * whose key is unchanged takes over the previous pool's state (health, marks, in-flight counts)
 * and its running checker; checks of pools that are gone stop at commit; new pools start theirs.
 */
export class HealthChecks {
  readonly #deps: HealthDeps
  #entries = new Map<string, Entry>()
  #stopped = false

  constructor (deps: HealthDeps) { this.#deps = deps }

  /** Links the new table's pools to the running state; nothing starts or stops before `commit`. */
  prepare (routes: RouteTable): { commit: () => void } {
    const next = new Map<string, Entry>()
    const settings = new Map<string, { h: HealthSettings, up: UpstreamSettings }>()
    for (const r of routes.routes) {
      const a = r.action
      if (a.kind !== 'proxy' || a.pool === undefined) continue
      const pool = a.pool
      const prev = this.#entries.get(pool.key) ?? next.get(pool.key)
      if (prev !== undefined) pool.inherit(prev.pool)
      if (next.has(pool.key)) continue
      next.set(pool.key, { route: r.name, pool, checker: prev?.checker, close: prev?.close })
      if (a.health !== undefined) settings.set(pool.key, { h: a.health, up: a.upstream })
    }
    return {
      commit: () => {
        for (const [key, e] of this.#entries) if (!next.has(key)) this.#stopEntry(e)
        if (!this.#stopped) {
          for (const [key, e] of next) {
            const s = settings.get(key)
            if (e.checker === undefined && s !== undefined) this.#start(e, s.h, s.up)
          }
        }
        this.#entries = next
      }
    }
  }

  #start (e: Entry, h: HealthSettings, up: UpstreamSettings): void {
    const { probe, close } = this.#deps.probeFor(h, up)
    const { onResult, onChange } = this.#deps
    e.close = close
    e.checker = new PoolChecker(e.pool.state.members, h, {
      timers: this.#deps.timers,
      now: this.#deps.now,
      probe,
      onResult: onResult === undefined ? undefined : (origin, ok) => onResult(e.route, origin, ok),
      onChange: onChange === undefined ? undefined : (origin, isUp, detail) => onChange(e.route, origin, isUp, detail)
    })
    e.checker.start()
  }

  #stopEntry (e: Entry): void {
    e.checker?.stop()
    void e.close?.()
  }

  report (): UpstreamReport[] {
    const t = this.#deps.now()
    const out: UpstreamReport[] = []
    for (const e of this.#entries.values()) {
      for (const m of e.pool.state.members) out.push(reportOf(e.route, m, e.checker !== undefined, t))
    }
    return out
  }

  stop (): void {
    this.#stopped = true
    for (const e of this.#entries.values()) this.#stopEntry(e)
  }
}

function reportOf (route: string, m: MemberState, checked: boolean, now: number): UpstreamReport {
  return {
    route,
    upstream: m.origin,
    state: !m.up ? 'down' : m.downUntil > now ? 'marked' : 'up',
    checked,
    inflight: m.inflight,
    okStreak: m.okStreak,
    failStreak: m.failStreak,
    lastCheck: m.lastCheck ?? null
  }
}
