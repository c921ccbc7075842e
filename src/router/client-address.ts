import type { Socket } from 'node:net'

/** The peer address without the IPv4-mapped prefix dual-stack sockets report. */
export function clientIp (socket: Socket | undefined): string {
  const ip = socket?.remoteAddress ?? ''
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip
}
