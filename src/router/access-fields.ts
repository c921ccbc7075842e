import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import type { IpPolicy } from './ip-policy.js'
import { clientIp } from './client-address.js'

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
  const xff = req.headers['x-forwarded-for']
  return clientAddressOf(clientIp(req.socket), typeof xff === 'string' ? xff : undefined, trusted)
}

/** The client: the peer, or — when the peer is a trusted proxy — the last untrusted X-Forwarded-For hop. */
export function clientAddressOf (peer: string, xff: string | undefined, trusted: IpPolicy | undefined): string {
  const isTrusted = (ip: string): boolean => trusted !== undefined && trusted.check(ip, 1) === undefined
  if (!isTrusted(peer) || xff === undefined) return peer
  const hops = xff.split(',').map(h => h.trim()).filter(h => h !== '')
  for (let i = hops.length - 1; i >= 0; i--) if (!isTrusted(hops[i]!)) return hops[i]!
  return hops[0] ?? peer
}
