import IPCIDR from 'ip-cidr'
import { isIP } from 'node:net'

/**
 * SSRF guard for addresses: loopback, unspecified, link-local (incl. cloud metadata),
 * multicast/broadcast and their IPv6 and IPv4-embedded forms are refused unless the operator
 * explicitly lists a network containing them. Ranges are compiled to integers once.
 */
const ALWAYS_DENIED_V4 = ['0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4', '240.0.0.0/4']
const ALWAYS_DENIED_V6 = ['::/128', '::1/128', 'fe80::/10', 'ff00::/8', 'fd00:ec2::254/128', 'fec0::/10']

interface Range { lo: bigint, hi: bigint }

const toRanges = (cidrs: readonly string[]): Range[] => cidrs.map(c => {
  const r = new IPCIDR(c)
  return { lo: r.start({ type: 'bigInteger' }) as bigint, hi: r.end({ type: 'bigInteger' }) as bigint }
})
const inRanges = (n: bigint, ranges: readonly Range[]): boolean => ranges.some(r => n >= r.lo && n <= r.hi)

const DENIED_V4 = toRanges(ALWAYS_DENIED_V4)
const DENIED_V6 = toRanges(ALWAYS_DENIED_V6)

export interface AddressGuard {
  /** undefined when the address may be connected to, else why not. */
  check (ip: string): string | undefined
  /** Whether the address lies in an explicitly allowed network. */
  explicitlyAllowed (ip: string): boolean
}

export function compileAddressGuard (allowNetworks: readonly string[]): AddressGuard {
  const v4Allowed = toRanges(allowNetworks.filter(c => isIP(c.split('/')[0] ?? '') === 4))
  const v6Allowed = toRanges(allowNetworks.filter(c => isIP(c.split('/')[0] ?? '') === 6))
  const explicitlyAllowed = (ip: string): boolean => {
    const a = toNumber(ip)
    if (a === undefined) return false
    return a.family === 4 ? inRanges(a.n, v4Allowed) : inRanges(a.n, v6Allowed) || (a.embedded4 !== undefined && inRanges(a.embedded4, v4Allowed))
  }
  return {
    explicitlyAllowed,
    check (ip) {
      const a = toNumber(ip)
      if (a === undefined) return `not an IP address: ${ip}`
      if (explicitlyAllowed(ip)) return undefined
      if (a.family === 4) return inRanges(a.n, DENIED_V4) ? `address ${ip} is loopback, link-local, multicast or unspecified` : undefined
      if (inRanges(a.n, DENIED_V6)) return `address ${ip} is loopback, link-local, multicast, unspecified or metadata`
      if (a.embedded4 !== undefined) {
        if (inRanges(a.embedded4, DENIED_V4)) return `address ${ip} embeds a forbidden IPv4 address`
      }
      return undefined
    }
  }
}

/**
 * The address as an integer, plus the IPv4 address embedded in IPv4-mapped (::ffff:0:0/96),
 * IPv4-compatible (::/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) forms.
 */
function toNumber (ip: string): { family: 4 | 6, n: bigint, embedded4?: bigint } | undefined {
  const kind = isIP(ip)
  if (kind === 0) return undefined
  const family: 4 | 6 = kind === 4 ? 4 : 6
  const n = new IPCIDR(`${ip}/${family === 4 ? 32 : 128}`).start({ type: 'bigInteger' }) as bigint
  if (family === 4) return { family, n }
  const top96 = n >> 32n
  const low32 = n & 0xffffffffn
  if (top96 === 0xffffn || top96 === 0n || top96 === 0x0064ff9b0000000000000000n) return { family, n, embedded4: low32 }
  if (n >> 112n === 0x2002n) return { family, n, embedded4: (n >> 80n) & 0xffffffffn }
  return { family, n }
}
