import type { Socket } from 'node:net'
import type { IpPolicy } from '../router/index.js'
import { decodeProxyHeader, MAX_V2_BODY, plainAddress, type Endpoint } from './proxy-protocol.js'
import { readPreamble } from './preamble.js'

export type ProxyAccept =
  | { ok: true, source: Endpoint | undefined, destination: Endpoint | undefined, rest: Buffer }
  | { ok: false, reason: string }

export const UNTRUSTED_PROXY = 'PROXY protocol expected from trusted_proxies only'

/**
 * The PROXY header a trusted balancer sends before anything else, on every listener that sets
 * `accept_proxy_protocol` (TCP, HTTP, HTTPS: before the TLS ClientHello). Only peers inside
 * `trusted_proxies` may send one; a header is required, malformed ones are refused. `source` is
 * undefined for LOCAL / UNSPEC (the balancer's own health checks): the socket's address stays.
 * The caller's deadline bounds the wait; `rest` is what followed the header (to be replayed).
 */
export async function acceptProxyHeader (raw: Socket, trusted: IpPolicy | undefined): Promise<ProxyAccept> {
  const peer = plainAddress(raw.remoteAddress ?? '')
  if (trusted === undefined || trusted.check(peer, 1) !== undefined) return { ok: false, reason: UNTRUSTED_PROXY }
  const r = await readPreamble(raw, Buffer.alloc(0), 16 + MAX_V2_BODY, decodeProxyHeader)
  if (!r.ok) return r
  return { ok: true, source: r.value.source, destination: r.value.destination, rest: r.rest }
}

/**
 * Makes the balancer's client the socket's peer for everything that reads it afterwards (the
 * request info's client ip, X-Forwarded-For, gates, ip_hash, per-IP limits, access log): own
 * properties shadow net.Socket's getters, so every transport sees the same address.
 */
export function adoptPeer (socket: Socket, source: Endpoint): void {
  const address = plainAddress(source.address)
  Object.defineProperty(socket, 'remoteAddress', { value: address, configurable: true })
  Object.defineProperty(socket, 'remotePort', { value: source.port, configurable: true })
  Object.defineProperty(socket, 'remoteFamily', { value: address.includes(':') ? 'IPv6' : 'IPv4', configurable: true })
}
