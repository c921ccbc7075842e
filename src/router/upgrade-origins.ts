import type { Decision } from './decide.js'
import type { IpPolicy } from './ip-policy.js'
import { poolRequestOf } from './pool-request.js'
import type { RequestInfo } from './request-info.js'
import { NOT_CONNECTED, retryBudget, retryStep, spend } from './retry.js'

/** The candidates of one upgrade (websocket) in the order it tries them, on every transport. */
export interface UpgradeOrigins {
  /** The candidate to try now. */
  readonly current: string
  /**
   * After the current candidate failed before any upstream byte (`code`: the error's code): the
   * next one to try, or undefined. Only connections that never opened move on — the upstream
   * never saw the request — within the route's `retries`, as for requests (retry.ts); a member
   * that refused is marked down for the pool, as requests mark it.
   */
  failed: (code: string) => string | undefined
}

export function upgradeOrigins (d: Extract<Decision, { action: 'proxy' }>, info: RequestInfo, trusted: IpPolicy | undefined): UpgradeOrigins {
  const origins = d.pool === undefined ? [d.target] : poolRequestOf(d.pool, info, trusted).origins
  let attempt = 0
  let budget = retryBudget(d.upstream.retries)
  return {
    get current () { return origins[attempt] as string },
    failed (code) {
      // A broken fresh connection is not the keep-alive race retry.ts repeats requests for.
      if (!NOT_CONNECTED.has(code)) return undefined
      d.pool?.markDown(origins[attempt] as string)
      const step = retryStep(code, 'GET', null, budget, attempt + 1 < origins.length)
      if (step === undefined) return undefined
      budget = spend(budget, step)
      return origins[++attempt]
    }
  }
}
