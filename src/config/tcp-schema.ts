import { z } from 'zod'
import { duration, filePath, hostName } from './fields.js'
import { headerName, PORTICO_OWNED_HEADERS } from './gate-schema.js'

/**
 * TCP listeners and `tcp_routes`: the part of the schema that replaces nginx's `stream {}` block.
 * A listener with `protocol: tcp` carries no HTTP; `tcp_routes` name the listeners they serve,
 * like `server { listen ...; proxy_pass ...; }` blocks, optionally chosen by the TLS SNI name.
 */

/** `host:port` or `[IPv6]:port`: a TCP upstream. */
export const tcpTarget = z.string().superRefine((v, ctx) => {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v)
  const port = m === null ? 0 : Number(m[2])
  if (m === null || port < 1 || port > 65535) ctx.addIssue({ code: 'custom', message: 'expected HOST:PORT or [IPv6]:PORT' })
})

export const tcpListenerKeys = {
  protocol: z.enum(['http', 'tcp']).default('http'),
  tls_passthrough: z.boolean().default(false),
  max_connections: z.number().int().min(1).nullable().default(null),
  handshake_timeout: duration.default(10_000),
  accept_proxy_protocol: z.boolean().default(false),
  client_ca_file: filePath.optional(),
  client_auth: z.enum(['required', 'optional']).default('required')
}

interface ListenerLike {
  protocol: 'http' | 'tcp'
  tls: boolean
  tls_passthrough: boolean
  max_connections: number | null
  accept_proxy_protocol: boolean
  client_ca_file?: string | undefined
}

export function checkTcpListener (l: ListenerLike, ctx: z.RefinementCtx): void {
  if (l.protocol !== 'tcp') {
    for (const k of ['tls_passthrough', 'max_connections'] as const) {
      if (l[k] !== tcpListenerKeys[k].parse(undefined)) ctx.addIssue({ code: 'custom', path: [k], message: `${k} applies to protocol: tcp listeners` })
    }
  }
  if (l.tls_passthrough && l.tls) ctx.addIssue({ code: 'custom', path: ['tls_passthrough'], message: 'tls_passthrough forwards the TLS stream untouched: it cannot be combined with tls: true (termination)' })
  if (l.client_ca_file !== undefined && !l.tls) ctx.addIssue({ code: 'custom', path: ['client_ca_file'], message: 'client certificates need a TLS-terminating listener (tls: true)' })
}

/**
 * `tls.client_auth_headers`: the request fields that carry a verified client certificate to
 * upstreams (HTTP listeners with `client_ca_file`). Always dropped from what clients send.
 */
export const clientAuthHeaders = z.strictObject({
  subject: headerName.default('X-Client-Cert-Subject'),
  fingerprint: headerName.default('X-Client-Cert-Fingerprint'),
  verify: headerName.default('X-Client-Cert-Verify')
}).superRefine((h, ctx) => {
  const seen = new Set<string>()
  for (const k of ['subject', 'fingerprint', 'verify'] as const) {
    const name = h[k].toLowerCase()
    if (PORTICO_OWNED_HEADERS.includes(name)) ctx.addIssue({ code: 'custom', path: [k], message: `${name} is a header portico sets itself` })
    if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [k], message: `${name} is used twice` })
    seen.add(name)
  }
})

export const tcpRoute = z.strictObject({
  name: z.string().min(1).optional(),
  listeners: z.array(z.string()).min(1),
  sni: z.array(hostName).min(1).optional(),
  upstreams: z.array(tcpTarget).min(1).optional(),
  docker: z.strictObject({ name: z.string().min(1), port: z.number().int().min(1).max(65535) }).optional(),
  proxy_protocol: z.enum(['v1', 'v2']).optional(),
  timeouts: z.strictObject({
    connect: duration.default(5000),
    idle: duration.default(3_600_000)
  }).prefault({})
}).superRefine((r, ctx) => {
  if ((r.upstreams === undefined) === (r.docker === undefined)) ctx.addIssue({ code: 'custom', message: 'a tcp route has exactly one of upstreams or docker' })
})

interface ConfigLike {
  listeners: Array<ListenerLike & { name: string }>
  routes: Array<{ listeners?: string[] | undefined }>
  tcp_routes: Array<z.output<typeof tcpRoute>>
  docker?: unknown
}

/** References between listeners, HTTP routes and TCP routes. */
export function tcpCrossChecks (c: ConfigLike, ctx: z.RefinementCtx): void {
  const protocolOf = new Map(c.listeners.map(l => [l.name, l]))
  c.tcp_routes.forEach((r, i) => {
    r.listeners.forEach((name, j) => {
      const l = protocolOf.get(name)
      if (l === undefined) ctx.addIssue({ code: 'custom', path: ['tcp_routes', i, 'listeners', j], message: `no listener named ${JSON.stringify(name)}` })
      else if (l.protocol !== 'tcp') ctx.addIssue({ code: 'custom', path: ['tcp_routes', i, 'listeners', j], message: `listener ${name} is not a protocol: tcp listener` })
      else if (r.sni !== undefined && !l.tls && !l.tls_passthrough) ctx.addIssue({ code: 'custom', path: ['tcp_routes', i, 'sni'], message: `listener ${name} sees no SNI name: it needs tls: true or tls_passthrough: true` })
    })
    if (r.docker !== undefined && c.docker === undefined) ctx.addIssue({ code: 'custom', path: ['tcp_routes', i, 'docker'], message: 'a docker tcp route needs the top-level docker section' })
  })
  c.routes.forEach((r, i) => {
    r.listeners?.forEach((name, j) => {
      if (protocolOf.get(name)?.protocol === 'tcp') ctx.addIssue({ code: 'custom', path: ['routes', i, 'listeners', j], message: `listener ${name} is a protocol: tcp listener: use tcp_routes` })
    })
  })
}
