/**
 * A static set of upstream origins with round-robin selection and passive health: a member
 * that fails to connect is skipped for `downForMs`. The pool is per snapshot; health marks are
 * cheap to lose on reload (the next failure marks the member again).
 */
export interface UpstreamPool {
  /** Origins to try, in order, for one request: the round-robin pick first, then the others. */
  candidates (): string[]
  peek (): string
  markDown (origin: string): void
}

export function createUpstreamPool (origins: readonly string[], downForMs = 10_000, now: () => number = Date.now): UpstreamPool {
  let next = 0
  const downUntil = new Map<string, number>()
  const healthy = (o: string, t: number): boolean => (downUntil.get(o) ?? 0) <= t
  return {
    candidates () {
      const n = origins.length
      if (n === 1) return [origins[0] as string]
      const start = next
      next = (next + 1) % n
      const t = now()
      const up: string[] = []
      const down: string[] = []
      for (let i = 0; i < n; i++) {
        const o = origins[(start + i) % n] as string
        if (healthy(o, t)) up.push(o); else down.push(o)
      }
      // When everything is marked down, still try them: a mark is a hint, not a verdict.
      return up.concat(down)
    },
    peek () {
      const t = now()
      return origins.find(o => healthy(o, t)) ?? (origins[0] as string)
    },
    markDown (origin) { downUntil.set(origin, now() + downForMs) }
  }
}
