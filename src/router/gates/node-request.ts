import type { IncomingMessage } from 'node:http'
import { clientIp, effectiveClientIp } from '../client-address.js'
import type { IpPolicy } from '../ip-policy.js'
import type { GateRequest } from './types.js'

/** The gate facts of a node:http or node:http2-compat request (the engine builds its own). */
export function nodeGateRequest (
  req: IncomingMessage, url: string, host: string | undefined, proto: 'http' | 'https', requestId: string, trusted: IpPolicy | undefined
): GateRequest {
  const peer = clientIp(req.socket)
  return {
    method: req.method ?? 'GET',
    url,
    host,
    header (name) {
      const v = req.headers[name]
      // Node joins repeated fields itself, except Set-Cookie-like arrays (and h2 cookie crumbs).
      return v === undefined ? undefined : Array.isArray(v) ? v.join(name === 'cookie' ? '; ' : ', ') : v
    },
    clientIp: effectiveClientIp(peer, req.headers['x-forwarded-for'], trusted),
    peerIp: peer,
    proto,
    requestId
  }
}
