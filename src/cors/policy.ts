import type { CorsConfig } from '../config/index.js'
import { NO_PRESET, PRESETS } from './presets.js'

export type HeaderList = ReadonlyArray<readonly [string, string]>

/**
 * A route's CORS policy, compiled once per snapshot: header values are pre-joined so answering
 * is a set lookup (or a few anchored regex tests) and no string building beyond the origin echo.
 */
export interface CorsPolicy {
  /** Headers for an actual response, or undefined when the origin is not allowed. */
  responseHeaders (origin: string): HeaderList | undefined
  /** Headers for a preflight answer, or undefined when the origin is not allowed. */
  preflightHeaders (origin: string): HeaderList | undefined
  readonly denyDisallowed: boolean
}

/** Response headers portico owns on CORS routes: stripped from upstream responses. */
export const CORS_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  'access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-methods',
  'access-control-allow-headers', 'access-control-expose-headers', 'access-control-max-age',
  'access-control-allow-private-network'
])

export function compileCorsPolicy (c: CorsConfig): CorsPolicy {
  const preset = c.preset === undefined ? NO_PRESET : PRESETS[c.preset]
  const exact = new Set(c.origins.filter(o => !o.startsWith('~') && o !== '*').map(o => o.toLowerCase()))
  const patterns = c.origins.filter(o => o.startsWith('~')).map(o => new RegExp(o.slice(1), 'i'))
  const any = c.origins.includes('*')
  const methods = (c.methods ?? preset.methods).join(', ')
  const allowHeaders = (c.allow_headers ?? preset.allowHeaders).join(', ')
  const expose = (c.expose_headers ?? preset.exposeHeaders).join(', ')
  const maxAge = String(Math.round((c.max_age ?? preset.maxAgeSeconds * 1000) / 1000))
  const allowed = (origin: string): boolean => {
    if (exact.has(origin.toLowerCase())) return true
    for (const p of patterns) if (p.test(origin)) return true
    return false
  }
  const base = (origin: string): Array<[string, string]> => {
    // `*` only ever without credentials (the schema refuses the combination).
    const echo = any && !allowed(origin) ? '*' : origin
    const h: Array<[string, string]> = [['access-control-allow-origin', echo], ['vary', 'Origin']]
    if (c.credentials) h.push(['access-control-allow-credentials', 'true'])
    return h
  }
  return {
    denyDisallowed: c.deny_disallowed,
    responseHeaders (origin) {
      if (!any && !allowed(origin)) return undefined
      const h = base(origin)
      if (expose !== '') h.push(['access-control-expose-headers', expose])
      return h
    },
    preflightHeaders (origin) {
      if (!any && !allowed(origin)) return undefined
      const h = base(origin)
      h.push(['access-control-allow-methods', methods], ['access-control-max-age', maxAge])
      if (allowHeaders !== '') h.push(['access-control-allow-headers', allowHeaders])
      return h
    }
  }
}
