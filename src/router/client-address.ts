import type { Socket } from 'node:net'
import type { IpPolicy } from './ip-policy.js'

/** The peer address without the IPv4-mapped prefix dual-stack sockets report. */
export function clientIp (socket: Socket | undefined): string {
  const ip = socket?.remoteAddress ?? ''
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip
}

/**
 * The client behind trusted proxies: the peer itself, or — when the peer is a trusted proxy —
 * the last X-Forwarded-For hop that is not one (an untrusted peer's X-Forwarded-For is ignored).
 */
export function effectiveClientIp (peer: string, xff: string | string[] | undefined, trusted: IpPolicy | undefined): string {
  const isTrusted = (ip: string): boolean => trusted !== undefined && trusted.check(ip, 1) === undefined
  if (!isTrusted(peer) || xff === undefined) return peer
  const hops = (typeof xff === 'string' ? xff : xff.join(',')).split(',').map(h => h.trim()).filter(h => h !== '')
  for (let i = hops.length - 1; i >= 0; i--) if (!isTrusted(hops[i]!)) return hops[i]!
  return hops[0] ?? peer
}
