import { pickOrder, type LbPolicy, type MemberView, type PickFacts } from './lb-select.js'
import type { StickyCookie } from './sticky-cookie.js'

/** One member's live state: written by the health checker, the transports and passive marks. */
export interface MemberState extends MemberView {
  readonly origin: string
  up: boolean
  downUntil: number
  inflight: number
  /** Consecutive check results of the current streak. */
  okStreak: number
  failStreak: number
  lastCheck: { at: string, ok: boolean, detail: string } | undefined
}

/** The mutable part of a pool, carried over to the next snapshot's pool when the pool is unchanged. */
export interface PoolState {
  readonly members: readonly MemberState[]
  rr: number
}

/** What one request needs to know to pick: the client address and its sticky cookie value. */
export interface RequestPick { clientIp: string, cookie: string | undefined }

/**
 * A static set of upstream origins: selection by the route's policy (lb-select.ts, pure),
 * in-flight counts (transports call acquire/release around each attempt), passive marks (a
 * member that fails to connect is put last for `downForMs`) and active health (written by
 * src/health). The request path only reads and counts: no I/O, nothing awaited.
 */
export interface UpstreamPool {
  /** Identity for hot reload: an unchanged pool keeps its state and its checks. */
  readonly key: string
  readonly policy: LbPolicy
  readonly sticky: StickyCookie | undefined
  /** Origins to try, in order, for one request: the policy's pick first, then the others. */
  candidates (pick?: RequestPick): string[]
  peek (): string
  markDown (origin: string): void
  acquire (origin: string): void
  release (origin: string): void
  /** The Set-Cookie value when the response came from `origin` and the request's cookie does not name it. */
  stickyFor (origin: string, cookie: string | undefined): string | undefined
  readonly state: PoolState
  /** Takes over a previous snapshot's state (same key): marks, counts and checks continue. */
  inherit (previous: UpstreamPool): void
}

export interface PoolOptions {
  key?: string
  policy?: LbPolicy
  sticky?: StickyCookie | undefined
  downForMs?: number
  now?: () => number
}

export function createUpstreamPool (origins: readonly string[], opts: PoolOptions = {}): UpstreamPool {
  const policy = opts.policy ?? 'round_robin'
  const downForMs = opts.downForMs ?? 10_000
  const now = opts.now ?? Date.now
  const sticky = opts.sticky
  let state: PoolState = {
    members: origins.map(origin => ({ origin, up: true, downUntil: 0, inflight: 0, okStreak: 0, failStreak: 0, lastCheck: undefined })),
    rr: 0
  }
  const member = (origin: string): MemberState | undefined => state.members[origins.indexOf(origin)]
  return {
    key: opts.key ?? JSON.stringify([policy, origins]),
    policy,
    sticky,
    get state () { return state },
    candidates (pick) {
      const n = origins.length
      if (n === 1) return [origins[0] as string]
      const rr = state.rr
      state.rr = (rr + 1) % n
      const facts: PickFacts | undefined = pick === undefined
        ? undefined
        : { clientIp: pick.clientIp, stickyIndex: sticky?.indexOf(pick.cookie) }
      const order = pickOrder(policy, state.members, now(), rr, facts)
      const out: string[] = new Array(order.length)
      for (let k = 0; k < order.length; k++) out[k] = origins[order[k] as number] as string
      return out
    },
    peek () {
      const t = now()
      return state.members.find(m => m.up && m.downUntil <= t)?.origin ?? (origins[0] as string)
    },
    markDown (origin) { const m = member(origin); if (m !== undefined) m.downUntil = now() + downForMs },
    acquire (origin) { const m = member(origin); if (m !== undefined) m.inflight++ },
    release (origin) { const m = member(origin); if (m !== undefined && m.inflight > 0) m.inflight-- },
    stickyFor (origin, cookie) {
      if (sticky === undefined) return undefined
      const i = origins.indexOf(origin)
      return i < 0 || sticky.indexOf(cookie) === i ? undefined : sticky.setCookie(i)
    },
    inherit (previous) { if (previous.key === this.key) state = previous.state }
  }
}
