import { lookup as dnsLookup } from 'node:dns/promises'
import type { CcpConfig } from '../config/index.js'
import { compileHostPatterns } from '../util/host-pattern.js'
import { compileAddressGuard } from './address-guard.js'
import { parseTargetHost, parseTargetPort } from './ccp-target.js'

export type Lookup = (host: string) => Promise<Array<{ address: string, family: number }>>

export const systemLookup: Lookup = async host => await dnsLookup(host, { all: true, verbatim: true })

/** Where to send one CCP request: a checked address, pinned (no second DNS lookup). */
export interface CcpTarget {
  /** `https://ADDRESS:PORT`: the connection goes to the address that passed the checks. */
  origin: string
  /** TLS SNI and certificate name: the host name the browser asked for ('' for IP targets). */
  serverName: string
  /** Host header for the upstream. */
  hostHeader: string
}

export type CcpResolution = { ok: true, target: CcpTarget } | { ok: false, status: 400 | 403 | 502 | 504, reason: string }

export interface CcpPolicy {
  resolve (hostHeader: string | string[] | undefined, portHeader: string | string[] | undefined): Promise<CcpResolution>
}

/**
 * The Cloud CORS Proxy's target policy (SSRF guard): the named host must match `hosts` (or be
 * an IP literal inside `networks`), the port must be listed, and every address the name
 * resolves to must pass the address guard; the connection is then pinned to the first address,
 * so a DNS answer that changes between check and connect (rebinding) cannot redirect it.
 */
export function compileCcpPolicy (c: CcpConfig, lookup: Lookup = systemLookup): CcpPolicy {
  const nameAllowed = c.hosts.length === 0 ? () => false : (() => { const m = compileHostPatterns(c.hosts); return (h: string) => m(h) !== undefined })()
  const guard = compileAddressGuard(c.networks)
  const portAllowed = (p: number): boolean => c.ports.some(r => p >= r.from && p <= r.to)
  return {
    async resolve (hostRaw, portRaw) {
      const host = parseTargetHost(hostRaw)
      if (typeof host === 'string') return { ok: false, status: 400, reason: host }
      const port = parseTargetPort(portRaw, c.default_port)
      if (typeof port === 'string') return { ok: false, status: 400, reason: port }
      if (!portAllowed(port)) return { ok: false, status: 403, reason: `target port ${port} is not allowed` }
      const hostPart = host.host.includes(':') ? `[${host.host}]` : host.host
      const hostHeader = port === 443 ? hostPart : `${hostPart}:${port}`
      if (host.kind === 'ip') {
        if (!guard.explicitlyAllowed(host.host)) return { ok: false, status: 403, reason: `target address ${host.host} is not in the allowed networks` }
        return { ok: true, target: { origin: originOf(host.host, port), serverName: '', hostHeader } }
      }
      if (!nameAllowed(host.host)) return { ok: false, status: 403, reason: `target host ${host.host} is not allowed` }
      let addresses: Array<{ address: string }>
      try {
        addresses = await withTimeout(lookup(host.host), c.resolve_timeout)
      } catch (err) {
        const timedOut = (err as Error).message === 'timeout'
        return { ok: false, status: timedOut ? 504 : 502, reason: timedOut ? `resolving ${host.host} timed out` : `cannot resolve ${host.host}` }
      }
      if (addresses.length === 0) return { ok: false, status: 502, reason: `cannot resolve ${host.host}` }
      for (const a of addresses) {
        const denied = guard.check(a.address)
        if (denied !== undefined) return { ok: false, status: 403, reason: `target host ${host.host} resolves to a forbidden address (${denied})` }
      }
      return { ok: true, target: { origin: originOf((addresses[0] as { address: string }).address, port), serverName: host.host, hostHeader } }
    }
  }
}

function originOf (ip: string, port: number): string {
  return ip.includes(':') ? `https://[${ip}]:${port}` : `https://${ip}:${port}`
}

async function withTimeout<T> (p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error('timeout')), ms) })])
  } finally {
    clearTimeout(timer)
  }
}
