import { createSecureContext, type SecureContext } from 'node:tls'
import { loadCertificate, type LoadedCertificate } from './certificate.js'

export interface CertificateInfo {
  names: string[]
  notAfter: string
  serial: string
  issuer: string
  certFile: string
}

/** Certificates compiled for SNI: exact names first, then one-label wildcards, then the default. */
export interface TlsContexts {
  select (servername: string | undefined): SecureContext
  readonly defaultCredentials: { cert: string, key: string }
  readonly certificates: readonly CertificateInfo[]
  readonly files: readonly string[]
  readonly acmePairs: ReadonlyMap<string, { cert: string, key: string, certFile: string, keyFile: string }>
  /**
   * The same selection with contexts that also trust `ca` for client certificates: OpenSSL
   * verifies against the context SNI picked, and the shared ones carry no CA. Built on first use
   * per CA and kept with these contexts (a few listeners, a few certificates).
   */
  withClientCa (ca: string): Pick<TlsContexts, 'select'>
}

export async function buildTlsContexts (opts: { certificates: ReadonlyArray<{ certFile: string, keyFile: string } | LoadedCertificate>, minVersion: 'TLSv1.2' | 'TLSv1.3' }): Promise<TlsContexts> {
  if (opts.certificates.length === 0) throw new Error('no certificates to serve')
  // Already loaded (ACME pairs read and verified once) or files to load.
  const loaded = await Promise.all(opts.certificates.map(async c => 'cert' in c ? c : await loadCertificate(c.certFile, c.keyFile)))
  return compileContexts(loaded, opts.minVersion)
}

export function compileContexts (loaded: readonly LoadedCertificate[], minVersion: 'TLSv1.2' | 'TLSv1.3'): TlsContexts {
  const byCa = new Map<string, Pick<TlsContexts, 'select'>>()
  const contexts = loaded.map(c => createSecureContext({ cert: c.cert, key: c.key, minVersion }))
  return {
    ...selector(loaded, contexts),
    withClientCa (ca) {
      let s = byCa.get(ca)
      if (s === undefined) {
        s = selector(loaded, loaded.map(c => createSecureContext({ cert: c.cert, key: c.key, minVersion, ca })))
        byCa.set(ca, s)
      }
      return s
    },
    defaultCredentials: { cert: (loaded[0] as LoadedCertificate).cert, key: (loaded[0] as LoadedCertificate).key },
    certificates: loaded.map(c => ({ names: c.names, notAfter: c.notAfter.toISOString(), serial: c.serial, issuer: c.issuer, certFile: c.certFile })),
    files: loaded.flatMap(c => [c.certFile, c.keyFile]),
    acmePairs: new Map(loaded.flatMap(c => c.acmeName === undefined ? [] : [[c.acmeName, { cert: c.cert, key: c.key, certFile: c.certFile, keyFile: c.keyFile }] as const]))
  }
}

function selector (loaded: readonly LoadedCertificate[], contexts: readonly SecureContext[]): Pick<TlsContexts, 'select'> {
  const exact = new Map<string, SecureContext>()
  const wildcard = new Map<string, SecureContext>()
  // Earlier certificates win for a name: iterate in reverse so the first one is stored last.
  for (let i = loaded.length - 1; i >= 0; i--) {
    for (const name of (loaded[i] as LoadedCertificate).names) {
      if (name.startsWith('*.')) wildcard.set(name.slice(2), contexts[i] as SecureContext)
      else exact.set(name, contexts[i] as SecureContext)
    }
  }
  const fallback = contexts[0] as SecureContext
  return {
    select (servername) {
      if (servername === undefined || servername === '') return fallback
      let name = servername.toLowerCase()
      if (name.endsWith('.')) name = name.slice(0, -1)
      const hit = exact.get(name)
      if (hit !== undefined) return hit
      // RFC 6125: a wildcard covers exactly one label.
      const dot = name.indexOf('.')
      return (dot > 0 ? wildcard.get(name.slice(dot + 1)) : undefined) ?? fallback
    }
  }
}
