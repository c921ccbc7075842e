import type { IpPolicy } from './ip-policy.js'
import type { RequestInfo } from './request-info.js'

/** The access-log fields that come from the request itself (issue 18.3), gathered at log time. */
export interface RequestAccessFields {
  /** The client: the peer, or — when the peer is a trusted proxy — the last untrusted X-Forwarded-For hop. */
  client: string
  /** `HTTP/1.1`, `HTTP/2.0`. */
  proto: string
  ua: string | undefined
  referer: string | undefined
  /** TLS server name the client asked for (TLS listeners). */
  sni: string | undefined
}

export function requestAccessFields (req: RequestInfo, trusted: IpPolicy | undefined): RequestAccessFields {
  return {
    client: clientAddress(req, trusted),
    proto: `HTTP/${req.httpVersion}`,
    ua: req.header('user-agent'),
    referer: req.header('referer'),
    sni: req.servername
  }
}

function clientAddress (req: RequestInfo, trusted: IpPolicy | undefined): string {
  const peer = req.peer
  const isTrusted = (ip: string): boolean => trusted !== undefined && trusted.check(ip, 1) === undefined
  const xff = req.header('x-forwarded-for')
  if (!isTrusted(peer) || xff === undefined) return peer
  const hops = xff.split(',').map(h => h.trim()).filter(h => h !== '')
  for (let i = hops.length - 1; i >= 0; i--) if (!isTrusted(hops[i]!)) return hops[i]!
  return hops[0] ?? peer
}
