import IPCIDR from 'ip-cidr'
import { isIP } from 'node:net'
import type { PortRange } from '../config/index.js'

/**
 * Allow-list of address ranges and ports, compiled once per snapshot into numeric ranges so the
 * request path does integer comparisons only (ip-cidr parses and validates at compile time).
 */
export interface IpPolicy {
  /** undefined when allowed, else a short reason for the 403. */
  check (ip: string, port: number): string | undefined
  allowsIpv4 (ip: number): boolean
  allowsPort (port: number): boolean
}

interface Range4 { lo: number, hi: number }
interface Range6 { lo: bigint, hi: bigint }

export function compileIpPolicy (cidrs: readonly string[], ports: readonly PortRange[]): IpPolicy {
  const v4: Range4[] = []
  const v6: Range6[] = []
  for (const c of cidrs) {
    const range = new IPCIDR(c)
    const lo = range.start({ type: 'bigInteger' }) as bigint
    const hi = range.end({ type: 'bigInteger' }) as bigint
    if (isIP(c.split('/')[0] ?? '') === 4) v4.push({ lo: Number(lo), hi: Number(hi) })
    else v6.push({ lo, hi })
  }
  const portRanges = ports.map(p => ({ from: p.from, to: p.to }))
  const allowsPort = (port: number): boolean => {
    for (const r of portRanges) if (port >= r.from && port <= r.to) return true
    return false
  }
  const allowsIpv4 = (ip: number): boolean => {
    for (const r of v4) if (ip >= r.lo && ip <= r.hi) return true
    return false
  }
  const allowsIpv6 = (ip: bigint): boolean => {
    for (const r of v6) if (ip >= r.lo && ip <= r.hi) return true
    return false
  }
  return {
    allowsIpv4,
    allowsPort,
    check (ip, port) {
      const family = isIP(ip)
      let ok = false
      if (family === 4) ok = allowsIpv4(ipv4ToNumber(ip))
      else if (family === 6) ok = allowsIpv6(ipv6ToBigInt(ip))
      if (!ok) return `target address ${ip} is outside the allowed networks`
      if (!allowsPort(port)) return `target port ${port} is not allowed`
      return undefined
    }
  }
}

export function ipv4ToNumber (ip: string): number {
  let n = 0
  let octet = 0
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i)
    if (c === 46) { n = n * 256 + octet; octet = 0 } else octet = octet * 10 + (c - 48)
  }
  return n * 256 + octet
}

function ipv6ToBigInt (ip: string): bigint {
  const range = new IPCIDR(`${ip}/128`)
  return range.start({ type: 'bigInteger' }) as bigint
}
