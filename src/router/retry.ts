/**
 * When a failed upstream attempt may be repeated, and how a failure reads. Kept apart from the
 * streaming code (forward.ts on undici, the engine's exchange on its own sockets): the rules are
 * about what the upstream can have seen, not about sockets, and both transports use this one set.
 */

/** Timeouts by undici's codes, which the engine uses too: a connect, the response head, a silent body. */
export const CONNECT_TIMEOUT = 'UND_ERR_CONNECT_TIMEOUT'
export const HEADERS_TIMEOUT = 'UND_ERR_HEADERS_TIMEOUT'
export const BODY_TIMEOUT = 'UND_ERR_BODY_TIMEOUT'

/** Errors where the upstream never saw the request: trying the next candidate is always safe. */
export const NOT_CONNECTED: ReadonlySet<string> = new Set([
  'ECONNREFUSED', CONNECT_TIMEOUT, 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'
])
/** The connection broke before any response: safe to repeat only for idempotent, bodiless requests. */
const BROKEN: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'])
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])
const TIMEOUTS: ReadonlySet<string> = new Set([HEADERS_TIMEOUT, CONNECT_TIMEOUT, BODY_TIMEOUT])

/** What one request may still spend on retries. */
export interface RetryBudget {
  /** Moves to another candidate left (the route's `retries`). */
  failovers: number
  /** The one repeat on the same origin after a reused keep-alive connection died under the request. */
  sameOriginUsed: boolean
}

/**
 * Whether a request body was touched: a Readable (node path) is one, the engine passes its own
 * view (read-through bodies are "read" once any byte went to an upstream).
 */
export interface BodyState {
  readonly readableDidRead: boolean
  readonly destroyed: boolean
}

export const retryBudget = (retries: number): RetryBudget => ({ failovers: retries, sameOriginUsed: false })

export type RetryStep = 'same-origin' | 'next-origin' | undefined

/**
 * The step after an attempt that failed before any response byte reached the client (`body`
 * null: the request has none).
 * - Connect failures: the next candidate, with or without a body, as long as nothing of the body
 *   was read yet (it never is before a connection exists, so nothing needs buffering).
 * - A connection that broke under an idempotent bodiless request: first once more on the same
 *   origin (a fresh connection; the usual cause is an upstream closing an idle keep-alive
 *   connection as the request arrives), then the next candidate.
 */
export function retryStep (code: string, method: string, body: BodyState | null, budget: RetryBudget, hasNext: boolean): RetryStep {
  const failover = hasNext && budget.failovers > 0 ? 'next-origin' : undefined
  if (NOT_CONNECTED.has(code)) return bodyUntouched(body) ? failover : undefined
  if (!BROKEN.has(code) || body !== null || !IDEMPOTENT.has(method)) return undefined
  return budget.sameOriginUsed ? failover : 'same-origin'
}

/** Spends the budget for a step. */
export function spend (budget: RetryBudget, step: Exclude<RetryStep, undefined>): RetryBudget {
  return step === 'same-origin' ? { ...budget, sameOriginUsed: true } : { ...budget, failovers: budget.failovers - 1 }
}

/** The answer to a request whose upstream failed before any response byte: 504 for timeouts, else 502. */
export const failureStatus = (code: string): 502 | 504 => TIMEOUTS.has(code) ? 504 : 502

/** The reason logged and shown on the error page for an upstream failure. */
export function failureReason (code: string, err: Error): string {
  switch (code) {
    case 'ECONNREFUSED': return 'upstream refused the connection'
    case CONNECT_TIMEOUT: return 'timed out connecting to the upstream'
    case HEADERS_TIMEOUT: return 'upstream did not send response headers in time'
    case BODY_TIMEOUT: return 'upstream sent nothing for longer than the idle timeout'
    case 'ECONNRESET': case 'EPIPE': case 'UND_ERR_SOCKET': return 'upstream closed the connection'
    case 'EHOSTUNREACH': case 'ENETUNREACH': return 'upstream is unreachable'
    default: return code === '' ? `upstream error: ${err.message}` : `upstream error (${code})`
  }
}

function bodyUntouched (body: BodyState | null): boolean {
  return body === null || (!body.readableDidRead && !body.destroyed)
}
