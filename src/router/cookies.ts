import type { ResponseHeaderMap } from './headers.js'

/**
 * Cookie scoping for UAP routes: every instance is a sibling below one parent domain and they
 * belong to different users, so a `Domain=` attribute that reaches beyond the request's own host
 * (the UAP domain, a parent of it, a sibling) would let one instance plant or read cookies for
 * another. Such attributes are removed, making the cookie host-only; `Domain=<exact host>` is
 * kept. Everything else in the cookie is passed through untouched.
 */
export function scopeSetCookies (headers: ResponseHeaderMap, requestHost: string): void {
  const cookies = headers['set-cookie']
  if (cookies === undefined) return
  // One cookie arrives as a string, several as an array: keep the shape.
  headers['set-cookie'] = typeof cookies === 'string' ? scopeOne(cookies, requestHost) : cookies.map(c => scopeOne(c, requestHost))
}

const DOMAIN_ATTR = /;\s*domain\s*=\s*([^;]*)/gi

function scopeOne (cookie: string, host: string): string {
  if (!/;\s*domain\s*=/i.test(cookie)) return cookie
  return cookie.replace(DOMAIN_ATTR, (attr, value: string) => {
    const domain = value.trim().toLowerCase().replace(/^\./, '').replace(/\.$/, '')
    return domain === host ? attr : ''
  })
}
