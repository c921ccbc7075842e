import type { IpPolicy } from './ip-policy.js'
import type { RequestInfo } from './request-info.js'
import { effectiveClientIp } from './client-address.js'

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
  return effectiveClientIp(req.peer, req.header('x-forwarded-for'), trusted)
}
