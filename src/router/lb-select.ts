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
  const tier = (m: MemberView): number => !m.up ? 2 : m.downUntil > now ? 1 : 0
  let best = 2
  for (const m of members) best = Math.min(best, tier(m))
  const first = preferred(policy, members, n, rr, facts, i => tier(members[i] as MemberView) === best)
  const order: number[] = [first]
  for (let t = best; t <= 2; t++) {
    for (let k = 0; k < n; k++) {
      const i = (first + k) % n
      if (i !== first && tier(members[i] as MemberView) === t) order.push(i)
    }
  }
  // Checked-down members are left out while any member is up.
  return best < 2 ? order.filter(i => (members[i] as MemberView).up) : order
}

function preferred (policy: LbPolicy, members: readonly MemberView[], n: number, rr: number, facts: PickFacts | undefined, eligible: (i: number) => boolean): number {
  const ring = (start: number): number => {
    for (let k = 0; k < n; k++) { const i = (start + k) % n; if (eligible(i)) return i }
    return start % n
  }
  switch (policy) {
    case 'least_conn': {
      // Ties go round-robin, so idle members still share the load evenly.
      let pick = -1
      for (let k = 0; k < n; k++) {
        const i = (rr + k) % n
        if (eligible(i) && (pick < 0 || (members[i] as MemberView).inflight < (members[pick] as MemberView).inflight)) pick = i
      }
      return pick < 0 ? rr % n : pick
    }
    case 'ip_hash':
      return facts === undefined ? ring(rr) : ring(hashOf(facts.clientIp) % n)
    case 'cookie':
      if (facts?.stickyIndex !== undefined && facts.stickyIndex < n && eligible(facts.stickyIndex)) return facts.stickyIndex
      return ring(rr)
    case 'round_robin':
      return ring(rr)
  }
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
