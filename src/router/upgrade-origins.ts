import type { Duplex } from 'node:stream'
import type { Decision } from './decide.js'
import type { IpPolicy } from './ip-policy.js'
import { attemptOn, poolRequestOf } from './pool-request.js'
import type { RequestInfo } from './request-info.js'
import { NOT_CONNECTED, retryBudget, retryStep, spend } from './retry.js'
import type { UpstreamPool } from './upstream-pool.js'

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

/**
 * `client`: the upgrading connection. The candidate being tried — then the tunnel's member — is
 * counted in flight for the pool (least_conn, `portico_upstream_inflight`) until that connection
 * closes (a tunnel closes both sides together), as nginx's least_conn counts upgraded connections.
 */
export function upgradeOrigins (d: Extract<Decision, { action: 'proxy' }>, info: RequestInfo, trusted: IpPolicy | undefined, client: Duplex): UpgradeOrigins {
  const origins = d.pool === undefined ? [d.target] : poolRequestOf(d.pool, info, trusted).origins
  let attempt = 0
  let budget = retryBudget(d.upstream.retries)
  const countOn = inFlightUntilClosed(d.pool, client)
  countOn(origins[0] as string)
  return {
    get current () { return origins[attempt] as string },
    failed (code) {
      // A broken fresh connection is not the keep-alive race retry.ts repeats requests for.
      if (!NOT_CONNECTED.has(code)) return undefined
      d.pool?.markDown(origins[attempt] as string)
      const step = retryStep(code, 'GET', null, budget, attempt + 1 < origins.length)
      if (step === undefined) return undefined
      budget = spend(budget, step)
      const next = origins[++attempt] as string
      countOn(next)
      return next
    }
  }
}

/**
 * Counts `client`'s upgrade in flight on one member at a time (the last one given) until the
 * connection closes. Its listener holds the pool and the socket only: an open tunnel must not keep
 * the decision, and with it the route and the snapshot it came from.
 */
function inFlightUntilClosed (pool: UpstreamPool | undefined, client: Duplex): (origin: string) => void {
  if (pool === undefined) return noop
  let end = noop
  client.once('close', () => { end() })
  // A connection already closing may have emitted its 'close': nothing is counted for it.
  return origin => { end(); end = client.destroyed ? noop : attemptOn(pool, origin) }
}

const noop = (): void => {}
