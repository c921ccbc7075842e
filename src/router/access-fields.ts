import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import type { IpPolicy } from './ip-policy.js'
import { clientIp, effectiveClientIp } from './client-address.js'

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

export function requestAccessFields (req: IncomingMessage, trusted: IpPolicy | undefined): RequestAccessFields {
  const servername = (req.socket as TLSSocket | undefined)?.servername
  return {
    client: clientAddress(req, trusted),
    proto: `HTTP/${req.httpVersion}`,
    ua: req.headers['user-agent'],
    referer: req.headers.referer,
    sni: typeof servername === 'string' ? servername : undefined
  }
}

function clientAddress (req: IncomingMessage, trusted: IpPolicy | undefined): string {
  return effectiveClientIp(clientIp(req.socket), req.headers['x-forwarded-for'], trusted)
}
