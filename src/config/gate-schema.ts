import { z } from 'zod'
import { cidr, duration } from './fields.js'

/**
 * Route keys for the gates between routing and forwarding (src/router/gates): client_allow/
 * client_deny, basic_auth, forward_auth, request_headers and strip_prefix.
 */

/**
 * Request header names portico owns on the way upstream (hop-by-hop, framing, Host, the
 * forwarding headers it builds): refused in request_headers and forward_auth.copy_headers.
 */
export const PORTICO_OWNED_HEADERS: readonly string[] = [
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings', 'content-length', 'expect',
  'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-request-id', 'via'
]
const OWNED = new Set(PORTICO_OWNED_HEADERS)

/** The `{placeholders}` request_headers values may use. */
export const REQUEST_HEADER_PLACEHOLDERS: readonly string[] = [
  'client_ip', 'remote_addr', 'host', 'request_id', 'method', 'uri', 'path', 'proto', 'auth_user'
]

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const PLACEHOLDER = /\{([a-zA-Z_][a-zA-Z0-9_]*)\}/g

export const headerName = z.string().regex(TOKEN, 'expected a header name (letters, digits and !#$%&\'*+.^_`|~-)')

function checkEditable (v: string, ctx: z.RefinementCtx, path: string[] = []): void {
  if (!TOKEN.test(v)) ctx.addIssue({ code: 'custom', path, message: `${JSON.stringify(v)} is not a header name` })
  else if (OWNED.has(v.toLowerCase())) {
    const why = 'hop-by-hop, framing, Host via preserve_host, or a forwarding header'
    ctx.addIssue({ code: 'custom', path, message: `${v} is set by portico itself (${why}) and cannot be edited` })
  }
}

/** A header name request_headers / copy_headers may change: not one portico owns. */
const editableHeader = z.string().superRefine((v, ctx) => checkEditable(v, ctx))

/** `{ Header-Name: value }` with editable names (checked here: zod reports record keys without their reason). */
function headerRecord<T extends z.ZodType> (value: T): z.ZodRecord<z.ZodString, T> {
  return z.record(z.string(), value).superRefine((rec, ctx) => { for (const k of Object.keys(rec)) checkEditable(k, ctx, [k]) })
}

const headerValue = z.string().superRefine((v, ctx) => {
  if (/[\0\r\n]/.test(v)) ctx.addIssue({ code: 'custom', message: 'a header value cannot contain CR, LF or NUL' })
  for (const m of v.matchAll(PLACEHOLDER)) {
    if (!REQUEST_HEADER_PLACEHOLDERS.includes(m[1]!)) {
      const known = REQUEST_HEADER_PLACEHOLDERS.map(p => `{${p}}`).join(', ')
      ctx.addIssue({ code: 'custom', message: `unknown placeholder {${m[1]!}} (available: ${known})` })
    }
  }
})

export const requestHeaders = z.strictObject({
  set: headerRecord(headerValue).default({}),
  add: headerRecord(z.union([headerValue, z.array(headerValue).min(1)])).default({}),
  remove: z.array(editableHeader).default([])
})

const bcryptHash = z.string().regex(/^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/, 'expected a bcrypt hash ($2b$10$..., see `portico hash-password`)')

export const basicAuth = z.strictObject({
  realm: z.string().min(1).regex(/^[^\x00-\x1f\x7f]*$/, 'no control characters').default('portico'),
  users: z.record(z.string(), bcryptHash).superRefine((users, ctx) => {
    if (Object.keys(users).length === 0) ctx.addIssue({ code: 'custom', message: 'at least one user' })
    // Checked here rather than as the record's key schema: zod reports a bad key without its reason.
    for (const name of Object.keys(users)) {
      if (name !== '' && !/[:\x00-\x1f\x7f]/.test(name)) continue
      ctx.addIssue({ code: 'custom', path: [name], message: 'a user name is not empty and has no ":" or control characters' })
    }
  }),
  forward_authorization: z.boolean().default(false),
  cache_ttl: duration.default(60_000)
})

const authAddress = z.string().superRefine((v, ctx) => {
  let url: URL | undefined
  try { url = new URL(v) } catch {}
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    ctx.addIssue({ code: 'custom', message: 'expected an http:// or https:// URL of the auth service' })
  }
})

export const forwardAuth = z.strictObject({
  address: authAddress,
  timeout: duration.default(5000),
  request_headers: z.array(headerName).default(['authorization', 'cookie']),
  copy_headers: z.array(editableHeader).default([]),
  deny_headers: z.array(headerName).default(['location', 'www-authenticate', 'set-cookie', 'content-type'])
})

export const stripPrefix = z.string()
  .regex(/^\/[^?#\s]*[^/?#\s]$/, 'expected a path prefix such as /objects (no trailing slash, query or fragment)')

export const clientCidrs = z.array(cidr).min(1)

interface GatedRoute {
  strip_prefix?: string | undefined
  request_headers?: unknown
  proxy?: { upstreams: string[] } | undefined
  docker?: unknown
  uap?: unknown
  cors_proxy?: unknown
}

/** Gate keys that only mean something for some actions: an ignored key would be a silent outage. */
export function gateChecks (r: GatedRoute, ctx: z.RefinementCtx): void {
  if (r.strip_prefix !== undefined && r.proxy === undefined && r.docker === undefined) {
    ctx.addIssue({ code: 'custom', path: ['strip_prefix'], message: 'strip_prefix applies to proxy and docker routes only' })
  }
  const forwards = r.proxy !== undefined || r.docker !== undefined || r.uap !== undefined || r.cors_proxy !== undefined
  if (r.request_headers !== undefined && !forwards) {
    ctx.addIssue({ code: 'custom', path: ['request_headers'], message: 'request_headers applies to forwarding routes only (proxy, docker, uap, cors_proxy)' })
  }
}

/** The path part of a literal upstream URL, without trailing slash ('' for an origin). */
export function upstreamBasePath (url: string): string {
  if (url.includes('{')) return ''
  try { return new URL(url).pathname.replace(/\/+$/, '') } catch { return '' }
}
