import { connectionTokens, HOP_BY_HOP, scopeSetCookies } from '../router/index.js'
import { Framing, type ResponseHeadParser } from './response-head.js'

export interface HeadEdits {
  /** The route's HSTS value on TLS listeners (the upstream's own wins). */
  hsts: string | undefined
  /** UAP cookie scoping: the request's host. */
  cookieHost: string | undefined
  /** The client connection closes after this response. */
  close: boolean
}

/**
 * The response head for the client, from the upstream's: hop-by-hop fields and fields the
 * Connection field names are dropped (RFC 9110 §7.6.1), Set-Cookie values scoped by the
 * router's UAP rule, HSTS added, the framing stated (chunked is passed through as it came; an
 * answer to HEAD states it too, with no body).
 * Field names keep their case; the string is latin1, written back byte for byte.
 */
export function clientHead (p: ResponseHeadParser, framing: Framing, edits: HeadEdits): string {
  const raw = p.headers
  const named = connectionTokens(raw)
  const cookies = edits.cookieHost === undefined ? undefined : scopedCookies(raw, edits.cookieHost)
  let c = 0
  let hsts = edits.hsts
  let out = `HTTP/1.1 ${p.statusCode} ${p.statusText}\r\n`
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const lower = name.toLowerCase()
    if (HOP_BY_HOP.has(lower) || (named !== undefined && named.has(lower))) continue
    // The upstream's own HSTS wins, as with node's writeHead over setHeader.
    if (lower === 'strict-transport-security') hsts = undefined
    out += `${name}: ${cookies !== undefined && lower === 'set-cookie' ? cookies[c++] as string : raw[i + 1] as string}\r\n`
  }
  if (hsts !== undefined) out += `strict-transport-security: ${hsts}\r\n`
  // An answer to HEAD keeps the upstream's chunked coding (RFC 9110 §9.3.2: the fields a GET
  // would get), as node:http does; no body follows either way.
  if (framing === Framing.Chunked || (framing === Framing.None && p.chunked && p.statusCode !== 204 && p.statusCode !== 304)) {
    out += 'transfer-encoding: chunked\r\n'
  }
  if (edits.close || framing === Framing.Close) out += 'connection: close\r\n'
  return out + '\r\n'
}

/** The first value of a field (raw name/value list, name in lower case). */
export function fieldValue (raw: readonly string[], lower: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).length === lower.length && (raw[i] as string).toLowerCase() === lower) return raw[i + 1] as string
  return undefined
}

/** The response's Set-Cookie values, in order, scoped by the router's UAP cookie rule; undefined when there are none. */
function scopedCookies (raw: readonly string[], host: string): string[] | undefined {
  const list: string[] = []
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === 'set-cookie') list.push(raw[i + 1] as string)
  if (list.length === 0) return undefined
  const h: { 'set-cookie'?: string[] } = { 'set-cookie': list }
  scopeSetCookies(h, host)
  return h['set-cookie']
}
