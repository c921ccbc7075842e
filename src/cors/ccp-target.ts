import { isIP } from 'node:net'

/**
 * The CCP target named by the browser in `exo-proxy-orig-host` / `exo-proxy-orig-port`,
 * validated strictly before any policy or DNS work: anything ambiguous is a 400, because
 * resolvers and URL parsers disagree on exactly the forms attackers use (decimal, octal and hex
 * IPv4, userinfo, embedded ports, brackets, whitespace and control characters).
 */
export type TargetHost = { kind: 'name', host: string } | { kind: 'ip', host: string }

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/
const DOTTED_QUAD = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

export function parseTargetHost (raw: string | string[] | undefined): TargetHost | string {
  if (raw === undefined) return 'missing exo-proxy-orig-host header'
  if (Array.isArray(raw)) return 'exo-proxy-orig-host given more than once'
  if (raw.length === 0 || raw.length > 253) return 'exo-proxy-orig-host is empty or too long'
  let host = raw.toLowerCase()
  if (host.endsWith('.')) host = host.slice(0, -1)
  // Bare IPv6 literals are accepted; brackets, zones and anything else with ':' are not.
  if (host.includes(':')) return isIP(host) === 6 && !host.includes('%') ? { kind: 'ip', host } : 'exo-proxy-orig-host must be a host name or IP address without port or brackets'
  if (DOTTED_QUAD.test(host)) return { kind: 'ip', host }
  const labels = host.split('.')
  if (!labels.every(l => LABEL.test(l))) return 'exo-proxy-orig-host is not a valid host name'
  // An all-numeric or hex-looking final label is an IPv4 form resolvers parse (127.1, 0x7f.1, 2130706433).
  const last = labels[labels.length - 1] as string
  if (/^\d+$/.test(last) || /^0x[0-9a-f]*$/.test(last)) return 'exo-proxy-orig-host looks like a non-canonical IPv4 address'
  return { kind: 'name', host }
}

export function parseTargetPort (raw: string | string[] | undefined, defaultPort: number): number | string {
  if (raw === undefined) return defaultPort
  if (Array.isArray(raw)) return 'exo-proxy-orig-port given more than once'
  if (!/^[1-9]\d{0,4}$/.test(raw)) return 'exo-proxy-orig-port must be a number 1-65535'
  const port = Number(raw)
  return port <= 65535 ? port : 'exo-proxy-orig-port must be a number 1-65535'
}
