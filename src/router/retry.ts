import type { Readable } from 'node:stream'

/**
 * When a failed upstream attempt may be repeated. Kept apart from the streaming code in
 * forward.ts: the rules are about what the upstream can have seen, not about sockets.
 */

/** Errors where the upstream never saw the request: trying the next candidate is always safe. */
export const NOT_CONNECTED: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'
])
/** The connection broke before any response: safe to repeat only for idempotent, bodiless requests. */
const BROKEN: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'])
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

/** What one request may still spend on retries. */
export interface RetryBudget {
  /** Moves to another candidate left (the route's `retries`). */
  failovers: number
  /** The one repeat on the same origin after a reused keep-alive connection died under the request. */
  sameOriginUsed: boolean
}

export const retryBudget = (retries: number): RetryBudget => ({ failovers: retries, sameOriginUsed: false })

export type RetryStep = 'same-origin' | 'next-origin' | undefined

/**
 * The step after an attempt that failed before any response byte arrived.
 * - Connect failures: the next candidate, with or without a body, as long as nothing of the body
 *   was read yet (it never is before a connection exists, so nothing needs buffering).
 * - A connection that broke under an idempotent bodiless request: first once more on the same
 *   origin (undici takes a fresh connection; the usual cause is an upstream closing an idle
 *   keep-alive connection as the request arrives), then the next candidate.
 */
export function retryStep (code: string, method: string, body: Readable | null, budget: RetryBudget, hasNext: boolean): RetryStep {
  const failover = hasNext && budget.failovers > 0 ? 'next-origin' : undefined
  if (NOT_CONNECTED.has(code)) return bodyUntouched(body) ? failover : undefined
  if (!BROKEN.has(code) || body !== null || !IDEMPOTENT.has(method)) return undefined
  return budget.sameOriginUsed ? failover : 'same-origin'
}

/** Spends the budget for a step. */
export function spend (budget: RetryBudget, step: Exclude<RetryStep, undefined>): RetryBudget {
  return step === 'same-origin' ? { ...budget, sameOriginUsed: true } : { ...budget, failovers: budget.failovers - 1 }
}

function bodyUntouched (body: Readable | null): boolean {
  return body === null || (!body.readableDidRead && !body.destroyed)
}
