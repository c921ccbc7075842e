import type { AccessEntry } from '../router/index.js'

export type AccessFormat = 'json' | 'combined' | 'common'

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/**
 * nginx/Apache `combined` and `common` lines, so existing log tooling (goaccess, awstats, fail2ban
 * filters) reads portico's access log unchanged:
 *   client - - [01/Dec/2026:01:02:03 +0000] "GET /path HTTP/1.1" 200 512 "referer" "user agent"
 * Quotes and control characters inside fields are escaped as \xHH, as nginx does.
 */
export function accessLine (e: AccessEntry, format: 'combined' | 'common', now = new Date()): string {
  const request = `${e.method} ${e.path} ${e.proto ?? 'HTTP/1.1'}`
  const head = `${e.client ?? '-'} - - [${clfTime(now)}] "${esc(request)}" ${e.status} ${e.bytes}`
  return format === 'common' ? head : `${head} "${esc(e.referer ?? '-')}" "${esc(e.ua ?? '-')}"`
}

function clfTime (d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0')
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]!}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`
}

function esc (s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/["\\\x00-\x1f\x7f]/g, c => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`)
}
