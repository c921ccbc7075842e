/**
 * The request target as routing sees it (RFC 9112 §3.2). Origin-form (`/path?q`) keeps the Host
 * header. Absolute-form (`http://name[:port]/path?q`, what proxies and some clients send) names
 * its own authority, which replaces the Host header, and is forwarded as origin-form — so an
 * upstream never receives a target that points somewhere else than the route that was checked.
 * Anything else (asterisk-form, authority-form, junk) is refused: undefined.
 */
export function requestTarget (url: string, host: string | undefined): { host: string | undefined, url: string } | undefined {
  if (url.charCodeAt(0) === 47 /* / */) return { host, url }
  const scheme = url.startsWith('http://') ? 7 : url.startsWith('https://') ? 8 : 0
  if (scheme === 0) return undefined
  const slash = url.indexOf('/', scheme)
  const query = url.indexOf('?', scheme)
  const end = slash < 0 ? (query < 0 ? url.length : query) : query < 0 ? slash : Math.min(slash, query)
  const authority = url.slice(scheme, end)
  if (authority === '' || authority.includes('@')) return undefined
  const rest = url.slice(end)
  return { host: authority, url: rest.charCodeAt(0) === 47 ? rest : `/${rest}` }
}
