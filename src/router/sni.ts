import type { Decision } from './decide.js'
import { normalizeHost } from './host.js'

/**
 * `tls.strict_sni_host`: a client that named one host in its TLS handshake and another in Host
 * gets 421 (RFC 9110 §15.5.20; browsers then retry on a fresh connection). No SNI: no opinion.
 */
export function misdirected (sni: string | undefined, host: string | undefined): Decision | undefined {
  if (sni === undefined || sni === '' || normalizeHost(host) === sni.toLowerCase()) return undefined
  return { action: 'deny', route: undefined, status: 421, reason: 'Host does not match the TLS server name (SNI)' }
}
