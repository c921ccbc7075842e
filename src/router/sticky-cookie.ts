import { createHash, createHmac } from 'node:crypto'

/**
 * Sticky-session cookie values for `load_balancing: cookie`. A value is an HMAC of the member's
 * origin keyed by a digest of the route's own config: it names no address, a client cannot make
 * up a valid one, and it stays valid across reloads and worker processes until that route's
 * config changes (then it is stale: the policy picks again and the cookie is re-set).
 */
export interface StickyCookie {
  readonly name: string
  /** Value per member index. */
  readonly values: readonly string[]
  /** The member a request's cookie value names, if it is one of ours. */
  indexOf (value: string | undefined): number | undefined
  /** The Set-Cookie field value pinning a client to member `index`. */
  setCookie (index: number): string
}

export interface StickyCookieConfig { name: string, ttl?: number | undefined, secure: boolean, http_only: boolean }

export function compileStickyCookie (c: StickyCookieConfig, origins: readonly string[], routeConfig: unknown): StickyCookie {
  const key = createHash('sha256').update('portico sticky cookie\0').update(JSON.stringify(routeConfig)).digest()
  const values = origins.map(o => createHmac('sha256', key).update(o).digest('base64url').slice(0, 22))
  const byValue = new Map(values.map((v, i) => [v, i]))
  const attrs = `; Path=/${c.ttl === undefined ? '' : `; Max-Age=${Math.floor(c.ttl / 1000)}`}${c.secure ? '; Secure' : ''}${c.http_only ? '; HttpOnly' : ''}; SameSite=Lax`
  const fields = values.map(v => `${c.name}=${v}${attrs}`)
  return {
    name: c.name,
    values,
    indexOf: value => value === undefined ? undefined : byValue.get(value),
    setCookie: index => fields[index] as string
  }
}

/** The value of cookie `name` in a Cookie field (`a=1; b=2`), without allocating the others. */
export function cookieValue (header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  let at = 0
  while (at < header.length) {
    while (header.charCodeAt(at) === 32 || header.charCodeAt(at) === 59 /* ; */) at++
    const end = header.indexOf(';', at)
    const stop = end < 0 ? header.length : end
    if (header.startsWith(name, at) && header.charCodeAt(at + name.length) === 61 /* = */) return header.slice(at + name.length + 1, stop).trim()
    at = stop + 1
  }
  return undefined
}
