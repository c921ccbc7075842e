import type { IncomingMessage } from 'node:http'
import { isIP } from 'node:net'

/** The admin listener's own address, as the Host header must name it. */
export interface Guard { host: string, port: number }

/** Header a state-changing request must carry (unless it carries the bearer token). */
export const ADMIN_HEADER = 'x-portico-admin'

const SAFE = new Set(['GET', 'HEAD'])

/**
 * Keeps web pages out of the admin API (CSRF and DNS rebinding), like Docker's and Consul's
 * local APIs: a page a browser on this host loads can send requests to loopback, but it cannot
 * choose the Host header (a rebound name shows up there), cannot set custom headers without a
 * CORS preflight this API never grants, and always sends its Origin on POST.
 * - Host must be an IP literal or `localhost` with the listener's port, or an `allowed_hosts` entry
 *   (`GET /healthz` excepted).
 * - State-changing requests: an Origin header must be in `allowed_origins`, and the request must
 *   carry `X-Portico-Admin` or the bearer token (non-simple headers: a form or no-cors fetch cannot).
 */
interface GuardSettings { allowedOrigins: readonly string[], allowedHosts: readonly string[], token: string | undefined }

export function refusal (req: IncomingMessage, s: GuardSettings, g: Guard): { status: number, error: string } | undefined {
  const host = req.headers.host?.toLowerCase()
  // Liveness says nothing and changes nothing; probes may reach it under any name (the demo's UAP route).
  if (req.method === 'GET' && req.url === '/healthz') return undefined
  if (host === undefined || !(s.allowedHosts.includes(host) || namesListener(host, g.port))) {
    const named = JSON.stringify(host ?? '')
    return { status: 421, error: `Host ${named} does not name this admin listener (use its address, or add the name to admin.allowed_hosts)` }
  }
  if (SAFE.has(req.method ?? 'GET')) return undefined
  const origin = req.headers.origin
  if (origin !== undefined && !s.allowedOrigins.includes(origin)) {
    return { status: 403, error: `Origin ${JSON.stringify(origin)} is not in admin.allowed_origins` }
  }
  if (req.headers[ADMIN_HEADER] === undefined && req.headers.authorization === undefined) {
    return { status: 403, error: 'a state-changing request needs the X-Portico-Admin header (or the bearer token)' }
  }
  return undefined
}

function namesListener (host: string, port: number): boolean {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d+))?$/.exec(host)
  if (m === null) return false
  const name = m[1]!.replace(/^\[|\]$/g, '')
  return (name === 'localhost' || isIP(name) !== 0) && Number(m[2] ?? 80) === port
}
