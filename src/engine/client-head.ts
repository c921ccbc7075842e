import { clientResponseHeaders, connectionTokens, HOP_BY_HOP, type ResponseEditor, type ResponseHeaderMap } from '../router/index.js'
import { Framing, type ResponseHeadParser } from './response-head.js'

export interface HeadEdits {
  /** The route's HSTS value on TLS listeners (the upstream's own wins). */
  hsts: string | undefined
  /** The client connection closes after this response. */
  close: boolean
  /** A Set-Cookie value to add (the cookie load-balancing policy's pin). */
  setCookie?: string | undefined
}

/**
 * The response head for the client, from the upstream's, when the route edits nothing (the
 * common case): hop-by-hop fields and fields the Connection field names are dropped (RFC 9110
 * §7.6.1), HSTS added, the framing stated (chunked is passed through as it came; an answer to
 * HEAD states it too, with no body). Field names keep their case; the string is latin1, written
 * back byte for byte.
 */
export function clientHead (p: ResponseHeadParser, framing: Framing, edits: HeadEdits): string {
  const raw = p.headers
  const named = connectionTokens(raw)
  let hsts = edits.hsts
  let out = `HTTP/1.1 ${p.statusCode} ${p.statusText}\r\n`
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const lower = name.toLowerCase()
    if (HOP_BY_HOP.has(lower) || (named !== undefined && named.has(lower))) continue
    // The upstream's own HSTS wins, as with node's writeHead over setHeader.
    if (lower === 'strict-transport-security') hsts = undefined
    out += `${name}: ${raw[i + 1] as string}\r\n`
  }
  if (edits.setCookie !== undefined) out += `set-cookie: ${edits.setCookie}\r\n`
  return out + tail(hsts, framing, edits.close, headChunked(p, framing))
}

export interface EditedHead extends HeadEdits {
  /** Upstream fields dropped besides hop-by-hop (a CORS route's upstream CORS fields). */
  drop: ReadonlySet<string> | undefined
  /** The route's response edits, cookie scoping and CORS answer: the node path's editor itself. */
  edit: ResponseEditor | undefined
}

/**
 * The response head when the route edits it: the upstream's fields as the node path sees them
 * (lower-case names, a repeated field as a list), the same `clientResponseHeaders` and
 * `responseEditor` applied, then written field by field as node's writeHead does.
 */
export function editedHead (p: ResponseHeadParser, framing: Framing, e: EditedHead): string {
  let out = `HTTP/1.1 ${p.statusCode} ${p.statusText}\r\n`
  for (const [name, value] of editedFields(p, e)) out += `${name}: ${value}\r\n`
  return out + tail(undefined, framing, e.close, headChunked(p, framing))
}

/**
 * The upstream's fields as the node path sees them (lower-case names, a repeated field as a
 * list), the same `clientResponseHeaders` and `responseEditor` applied, HSTS added when the
 * upstream sent none: the field list node's writeHead would write.
 */
export function editedFields (p: ResponseHeadParser, e: Omit<EditedHead, 'close'>): Array<[string, string]> {
  const h = fieldMap(p)
  clientResponseHeaders(h, e.drop)
  e.edit?.(h)
  const out = fieldList(h)
  if (h['strict-transport-security'] === undefined && e.hsts !== undefined) out.push(['strict-transport-security', e.hsts])
  if (e.setCookie !== undefined) out.push(['set-cookie', e.setCookie])
  return out
}

/**
 * The 101 head for the client: the upstream's as it came, or with the route's edits (cookie
 * scoping on UAP routes: a handshake may set cookies too). Connection and Upgrade stay.
 */
export function upgradeHead (p: ResponseHeadParser, edit: ResponseEditor | undefined): string {
  let out = `HTTP/1.1 101 ${p.statusText === '' ? 'Switching Protocols' : p.statusText}\r\n`
  if (edit === undefined) {
    const raw = p.headers
    for (let i = 0; i < raw.length; i += 2) out += `${raw[i] as string}: ${raw[i + 1] as string}\r\n`
  } else {
    const h = fieldMap(p)
    edit(h)
    for (const [name, value] of fieldList(h)) out += `${name}: ${value}\r\n`
  }
  return out + '\r\n'
}

/**
 * The upstream's fields as the node path sees them: lower-case names, a repeated field as a list.
 * No prototype: a field named `constructor` or `__proto__` is a field like any other.
 */
function fieldMap (p: ResponseHeadParser): ResponseHeaderMap {
  const raw = p.headers
  const h = Object.create(null) as ResponseHeaderMap
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase()
    const value = raw[i + 1] as string
    const prev = h[name]
    h[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value]
  }
  return h
}

function fieldList (h: ResponseHeaderMap): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const name of Object.keys(h)) {
    const v = h[name]
    if (v === undefined) continue
    if (Array.isArray(v)) for (const one of v) out.push([name, one])
    else out.push([name, v])
  }
  return out
}

/**
 * An answer to HEAD keeps the upstream's chunked coding (RFC 9110 §9.3.2: the fields a GET
 * would get); no body follows either way.
 */
const headChunked = (p: ResponseHeadParser, framing: Framing): boolean =>
  framing === Framing.None && p.chunked && p.statusCode !== 204 && p.statusCode !== 304

function tail (hsts: string | undefined, framing: Framing, close: boolean, chunkedHead: boolean): string {
  let out = hsts === undefined ? '' : `strict-transport-security: ${hsts}\r\n`
  if (framing === Framing.Chunked || chunkedHead) out += 'transfer-encoding: chunked\r\n'
  if (close || framing === Framing.Close) out += 'connection: close\r\n'
  return out + '\r\n'
}

/** The first value of a field (raw name/value list, name in lower case). */
export function fieldValue (raw: readonly string[], lower: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).length === lower.length && (raw[i] as string).toLowerCase() === lower) return raw[i + 1] as string
  return undefined
}
