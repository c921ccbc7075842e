/**
 * Normalises a Host header / :authority / SNI name for matching: lower case, no port, no
 * trailing dot. Returns undefined for anything that is not a plausible DNS name or IP literal,
 * so header-injection and junk never reach a route's regex.
 */
const HOST_CHARS = /^[a-z0-9._-]+$/

export function normalizeHost (raw: string | undefined): string | undefined {
  if (raw === undefined || raw.length === 0 || raw.length > 300) return undefined
  let host = raw.toLowerCase()
  if (host.charCodeAt(0) === 91 /* [ */) {
    const end = host.indexOf(']')
    if (end < 0) return undefined
    const rest = host.slice(end + 1)
    if (rest !== '' && !validPort(rest.slice(1))) return undefined
    const literal = host.slice(1, end)
    return /^[0-9a-f:.]+$/.test(literal) ? `[${literal}]` : undefined
  }
  const colon = host.indexOf(':')
  if (colon >= 0) {
    if (!validPort(host.slice(colon + 1))) return undefined
    host = host.slice(0, colon)
  }
  if (host.endsWith('.')) host = host.slice(0, -1)
  if (host.length === 0 || host.length > 253 || !HOST_CHARS.test(host) || host.includes('..') || host.startsWith('.')) return undefined
  return host
}

function validPort (text: string): boolean {
  return /^\d{1,5}$/.test(text) && Number(text) <= 65535
}
