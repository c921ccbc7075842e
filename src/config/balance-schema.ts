import { z } from 'zod'
import { duration } from './fields.js'

/**
 * Config of `proxy` pools' active health checks and load-balancing policies (issue 22).
 * Kept apart from schema.ts so the proxy action only gains three keys.
 */

/** One accepted status: 204, "2xx" (a class) or "200-399" (an inclusive range); undefined when invalid. */
function statusRange (v: string | number): { from: number, to: number } | undefined {
  const text = String(v).trim().toLowerCase()
  const cls = /^([1-5])xx$/.exec(text)
  const range = /^(\d{3})(?:\s*-\s*(\d{3}))?$/.exec(text)
  const from = cls !== null ? Number(cls[1]) * 100 : range !== null ? Number(range[1]) : NaN
  const to = cls !== null ? from + 99 : range !== null ? Number(range[2] ?? range[1]) : NaN
  return from >= 100 && to <= 599 && from <= to ? { from, to } : undefined
}

const statusItem = z.union([z.number(), z.string()])

/** A status, a class, a range, or a list of these; compiled to inclusive ranges. */
const expectStatus = z.union([statusItem, z.array(statusItem).min(1)]).transform((v, ctx) => {
  const ranges = []
  for (const item of Array.isArray(v) ? v : [v]) {
    const r = statusRange(item)
    if (r === undefined) {
      ctx.addIssue({ code: 'custom', message: `invalid status ${JSON.stringify(item)} (use e.g. 200, "2xx" or "200-399")` })
      return z.NEVER
    }
    ranges.push(r)
  }
  return ranges
})

export const healthCheck = z.strictObject({
  path: z.string().regex(/^\/[\x21-\x7e]*$/, 'expected a path starting with / (no spaces or control characters)').default('/'),
  interval: duration.default(10_000),
  timeout: duration.default(2000),
  expect_status: expectStatus.prefault(['2xx', '3xx']),
  unhealthy_after: z.number().int().min(1).max(100).default(3),
  healthy_after: z.number().int().min(1).max(100).default(2),
  /** Host header of the probe; default the member's own host:port. */
  host: z.string().min(1).regex(/^[A-Za-z0-9.:[\]-]+$/, 'expected a host name (optionally with :port)').optional()
}).superRefine((h, ctx) => {
  if (h.interval < 100) ctx.addIssue({ code: 'custom', path: ['interval'], message: 'interval must be at least 100ms' })
  if (h.timeout <= 0 || h.timeout > h.interval) ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'timeout must be above 0 and at most the interval (probes never overlap)' })
})

export const LB_POLICIES = ['round_robin', 'least_conn', 'ip_hash', 'cookie'] as const

export const loadBalancing = z.enum(LB_POLICIES).default('round_robin')

/** Sticky-session cookie of `load_balancing: cookie`. */
export const stickyCookie = z.strictObject({
  name: z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'expected a cookie name (an HTTP token)'),
  /** Max-Age; absent: a session cookie. */
  ttl: duration.optional(),
  secure: z.boolean().default(false),
  http_only: z.boolean().default(true)
})

/** Checks across the keys above and the pool they belong to. */
export function checkBalancing (p: { upstreams: string[], health_check?: unknown, load_balancing: string, cookie?: unknown }, ctx: z.RefinementCtx): void {
  const templated = p.upstreams.some(u => u.includes('{'))
  if (templated && p.health_check !== undefined) ctx.addIssue({ code: 'custom', path: ['health_check'], message: 'health_check needs fixed upstreams (a templated upstream is not a pool)' })
  if (templated && p.load_balancing !== 'round_robin') ctx.addIssue({ code: 'custom', path: ['load_balancing'], message: 'load_balancing needs fixed upstreams (a templated upstream is not a pool)' })
  if (p.load_balancing === 'cookie' && p.cookie === undefined) ctx.addIssue({ code: 'custom', path: ['cookie'], message: 'load_balancing: cookie needs cookie: { name: ... }' })
  if (p.load_balancing !== 'cookie' && p.cookie !== undefined) ctx.addIssue({ code: 'custom', path: ['cookie'], message: 'cookie is only used with load_balancing: cookie' })
}
