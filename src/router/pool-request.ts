import type { IpPolicy } from './ip-policy.js'
import { effectiveClientIp } from './client-address.js'
import type { RequestInfo } from './request-info.js'
import { cookieValue } from './sticky-cookie.js'
import type { UpstreamPool } from './upstream-pool.js'

/**
 * One request's use of a pool, the same on every transport (node:http, HTTP/2, the engine):
 * the candidates the policy orders for it, in-flight counting around each attempt and the
 * sticky cookie to set for the member that answered.
 */
export interface PoolRequest {
  readonly origins: string[]
  readonly pool: UpstreamPool
  /** The sticky cookie's value the request came with (cookie policy). */
  readonly cookie: string | undefined
}

/** Request facts are read only for the policies that use them (round_robin/least_conn read none). */
export function poolRequest (
  pool: UpstreamPool, peer: string, header: (name: 'x-forwarded-for' | 'cookie') => string | undefined, trusted: IpPolicy | undefined
): PoolRequest {
  if (pool.policy === 'ip_hash') {
    return { origins: pool.candidates({ clientIp: effectiveClientIp(peer, header('x-forwarded-for'), trusted), cookie: undefined }), pool, cookie: undefined }
  }
  if (pool.sticky !== undefined) {
    const cookie = cookieValue(header('cookie'), pool.sticky.name)
    return { origins: pool.candidates({ clientIp: peer, cookie }), pool, cookie }
  }
  return { origins: pool.candidates(), pool, cookie: undefined }
}

/** The same from a request's plain facts (any transport; h2 cookie crumbs joined as an HTTP/1.1 Cookie line). */
export function poolRequestOf (pool: UpstreamPool, req: RequestInfo, trusted: IpPolicy | undefined): PoolRequest {
  return poolRequest(pool, req.peer, name => req.header(name), trusted)
}

/** Counts one attempt on `origin` in flight; the returned function ends it (idempotent). */
export function attemptOn (pool: UpstreamPool | undefined, origin: string): () => void {
  if (pool === undefined) return noop
  pool.acquire(origin)
  let open = true
  return () => { if (open) { open = false; pool.release(origin) } }
}

const noop = (): void => {}
