/**
 * Load-balancing selection, pure: the order in which one request tries a pool's members, from
 * the members' state and the request's facts. The pool (upstream-pool.ts) owns the state and
 * the round-robin counter; nothing here mutates or does I/O.
 */

export type LbPolicy = 'round_robin' | 'least_conn' | 'ip_hash' | 'cookie'

/** What selection reads of one member. */
export interface MemberView {
  /** Active health: false once `unhealthy_after` checks failed (always true without checks). */
  readonly up: boolean
  /** Passive health: a failed connect marks the member until this time (ms). */
  readonly downUntil: number
  /** Requests in flight to this member (both transports). */
  readonly inflight: number
}

export interface PickFacts {
  /** The client address after trusted-proxy handling (ip_hash). */
  readonly clientIp: string
  /** The member index the sticky cookie names, when it names a valid one (cookie). */
  readonly stickyIndex: number | undefined
}

/**
 * Member indices, best first. Tiers: members up and not passively marked, then members up but
 * passively marked (a mark is a hint), and members checked down only when no member is up at
 * all (then every member is tried, like nginx: a broken health path must not take the whole
 * site down when the members still answer requests). Within the first tier the policy picks
 * the first member; the others follow in ring order from it.
 */
export function pickOrder (policy: LbPolicy, members: readonly MemberView[], now: number, rr: number, facts: PickFacts | undefined): number[] {
  const n = members.length
  let best = 2
  let worst = 0
  for (let i = 0; i < n; i++) {
    const t = tierOf(members[i] as MemberView, now)
    if (t < best) best = t
    if (t > worst) worst = t
  }
  const first = preferred(policy, members, n, rr, facts, best, now)
  const order: number[] = [first]
  // The common case (every member in one tier): the ring from the pick, no second pass.
  if (best === worst) {
    for (let k = 1; k < n; k++) order.push((first + k) % n)
    return order
  }
  // Checked-down members are left out while any member is up.
  const last = best < 2 ? 1 : 2
  for (let t = best; t <= last; t++) {
    for (let k = 1; k < n; k++) {
      const i = (first + k) % n
      if (tierOf(members[i] as MemberView, now) === t) order.push(i)
    }
  }
  return order
}

/** 0: up and unmarked, 1: up but passively marked, 2: checked down. */
function tierOf (m: MemberView, now: number): number {
  return !m.up ? 2 : m.downUntil > now ? 1 : 0
}

function preferred (policy: LbPolicy, members: readonly MemberView[], n: number, rr: number, facts: PickFacts | undefined, tier: number, now: number): number {
  switch (policy) {
    case 'least_conn': {
      // Ties go round-robin, so idle members still share the load evenly.
      let pick = -1
      for (let k = 0; k < n; k++) {
        const i = (rr + k) % n
        const m = members[i] as MemberView
        if (tierOf(m, now) === tier && (pick < 0 || m.inflight < (members[pick] as MemberView).inflight)) pick = i
      }
      return pick < 0 ? rr % n : pick
    }
    case 'ip_hash':
      return ring(members, n, facts === undefined ? rr : hashOf(facts.clientIp) % n, tier, now)
    case 'cookie': {
      const s = facts?.stickyIndex
      if (s !== undefined && s < n && tierOf(members[s] as MemberView, now) === tier) return s
      return ring(members, n, rr, tier, now)
    }
    case 'round_robin':
      return ring(members, n, rr, tier, now)
  }
}

/** The first member of `tier` at or after `start`. */
function ring (members: readonly MemberView[], n: number, start: number, tier: number, now: number): number {
  for (let k = 0; k < n; k++) { const i = (start + k) % n; if (tierOf(members[i] as MemberView, now) === tier) return i }
  return start % n
}

/** FNV-1a over the address text: stable across processes and restarts (every worker agrees). */
export function hashOf (text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}
