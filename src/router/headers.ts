import type { IpPolicy } from './ip-policy.js'
import { identityFields, type ClientCert, type ClientCertHeaders } from './client-cert.js'

/**
 * Response headers as undici delivers them: a header received once is a string (Set-Cookie
 * included, unlike Node's own IncomingHttpHeaders type claims), a repeated one an array.
 * Every response header editor takes this type, so the compiler makes each handle both shapes.
 */
export type ResponseHeaderMap = Record<string, string | string[] | undefined>

/**
 * Header rewriting between client and upstream. Hop-by-hop headers (RFC 9110 §7.6.1) and any
 * header the Connection header names are dropped in both directions; X-Forwarded-* and
 * Forwarded are set from the connection, or extended when the peer is a trusted proxy.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings'
])

export interface ForwardFacts {
  readonly clientIp: string
  readonly proto: 'http' | 'https'
  readonly host: string | undefined
  readonly trusted: boolean
  readonly requestId: string
  readonly via: boolean
  /** Client-certificate fields: always dropped from the client's request; `identity` (name, value, ...) added. */
  readonly certHeaders: ReadonlySet<string> | undefined
  readonly identity: readonly string[] | undefined
}

/** The facts about one client request that forwarding headers are built from. */
export function forwardFacts (
  clientIp: string, proto: 'http' | 'https', host: string | undefined, requestId: string, trustedProxies: IpPolicy | undefined, via: boolean,
  certHeaders?: ClientCertHeaders, cert?: ClientCert
): ForwardFacts {
  const trusted = trustedProxies !== undefined && trustedProxies.check(clientIp, 1) === undefined
  const identity = certHeaders !== undefined && cert !== undefined ? identityFields(certHeaders, cert) : undefined
  return { clientIp, proto, host, trusted, requestId, via, certHeaders: certHeaders?.all, identity }
}

/** Flat [name, value, name, value, ...] list for undici, from Node's rawHeaders. */
export function upstreamRequestHeaders (rawHeaders: readonly string[], facts: ForwardFacts, hostOverride: string | undefined, extraDrop?: ReadonlySet<string>): string[] {
  const dropNamed = connectionTokens(rawHeaders)
  const out: string[] = []
  let xff: string | undefined
  let xfp: string | undefined
  let xfh: string | undefined
  let fwd: string | undefined
  let hostSeen = false
  let via: string | undefined
  let cookie: string | undefined
  // A trusted proxy's request id is kept; the caller's facts are never changed.
  let requestId = facts.requestId
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string
    const value = rawHeaders[i + 1] as string
    const lower = name.toLowerCase()
    if (HOP_BY_HOP.has(lower) || (dropNamed !== undefined && dropNamed.has(lower)) || (extraDrop !== undefined && extraDrop.has(lower))) continue
    if (facts.certHeaders !== undefined && facts.certHeaders.has(lower)) continue
    if (lower.charCodeAt(0) === 58 /* : */) continue // h2 pseudo-headers
    switch (lower) {
      case 'x-forwarded-for': if (facts.trusted) xff = xff === undefined ? value : `${xff}, ${value}`; continue
      case 'x-forwarded-proto': if (facts.trusted) xfp = value; continue
      case 'x-forwarded-host': if (facts.trusted) xfh = value; continue
      case 'forwarded': if (facts.trusted) fwd = fwd === undefined ? value : `${fwd}, ${value}`; continue
      case 'x-request-id': if (facts.trusted) requestId = value; continue
      case 'via': if (facts.via) { via = value; continue } break
      // RFC 9113 §8.2.3: HTTP/2 clients split Cookie into crumbs; an HTTP/1.1 upstream needs one line.
      case 'cookie': cookie = cookie === undefined ? value : `${cookie}; ${value}`; continue
      // Node already answered 100 Continue to the client; undici refuses to send Expect itself.
      case 'expect': continue
      case 'host':
        if (hostSeen) continue
        hostSeen = true
        out.push('host', hostOverride ?? value)
        continue
    }
    out.push(name, value)
  }
  if (cookie !== undefined) out.push('cookie', cookie)
  if (!hostSeen && (hostOverride ?? facts.host) !== undefined) out.push('host', (hostOverride ?? facts.host) as string)
  const forHost = facts.clientIp.includes(':') ? `"[${facts.clientIp}]"` : facts.clientIp
  const thisHop = `for=${forHost};proto=${facts.proto}${facts.host === undefined ? '' : `;host="${facts.host}"`}`
  out.push(
    'x-forwarded-for', xff === undefined ? facts.clientIp : `${xff}, ${facts.clientIp}`,
    'x-forwarded-proto', xfp ?? facts.proto,
    'x-forwarded-host', xfh ?? facts.host ?? '',
    'forwarded', fwd === undefined ? thisHop : `${fwd}, ${thisHop}`,
    'x-request-id', requestId
  )
  if (facts.via) out.push('via', via === undefined ? '1.1 portico' : `${via}, 1.1 portico`)
  if (facts.identity !== undefined) out.push(...facts.identity)
  return out
}

export function connectionTokens (rawHeaders: readonly string[]): Set<string> | undefined {
  let set: Set<string> | undefined
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).length !== 10 || (rawHeaders[i] as string).toLowerCase() !== 'connection') continue
    for (const token of (rawHeaders[i + 1] as string).split(',')) {
      const t = token.trim().toLowerCase()
      if (t !== '' && t !== 'close' && t !== 'keep-alive') (set ??= new Set()).add(t)
    }
  }
  return set
}

/** Response headers from undici (lower-case object) minus hop-by-hop, ready for writeHead. */
export function clientResponseHeaders (headers: ResponseHeaderMap, drop?: ReadonlySet<string>): ResponseHeaderMap {
  const named = headers.connection
  const dropNamed = named === undefined ? [] : String(named).toLowerCase().split(',').map(s => s.trim())
  for (const h of HOP_BY_HOP) if (h in headers) delete headers[h]
  for (const h of dropNamed) if (h !== '') delete headers[h]
  if (drop !== undefined) for (const h of drop) if (h in headers) delete headers[h]
  return headers
}
