import type { Config } from '../config/index.js'
import { compileRouteTable, compileIpPolicy, type DispatcherRegistry } from '../router/index.js'
import type { Snapshot, TlsSelector } from '../snapshot/index.js'
import { buildTlsContexts, ensureSelfSigned } from '../tls/index.js'
import type { NameTable } from '../dns/index.js'
import { readCertificate } from '../acme/index.js'
import { join } from 'node:path'

let generation = 0

/** Snapshot generations count every swap, whichever producer caused it. */
export function nextGeneration (): number { return ++generation }

export interface BuiltSnapshot {
  snapshot: Snapshot
  /** Keys of the upstream dispatchers this snapshot uses; the rest can be retired after the swap. */
  dispatcherKeys: Set<string>
}

/**
 * Compiles a validated config into a snapshot. Everything that can fail (certificate files,
 * CA files, self-signed generation) fails here, before anything is swapped.
 */
export async function buildSnapshot (config: Config, dispatchers: DispatcherRegistry, names: NameTable, acmeHttp?: (token: string) => string | undefined): Promise<BuiltSnapshot> {
  const routes = compileRouteTable(config)
  const dispatcherKeys = await dispatchers.prepare(routes)
  const tls = await buildTls(config)
  const snapshot: Snapshot = {
    generation: nextGeneration(),
    config,
    routes,
    trustedProxies: config.trusted_proxies.length === 0 ? undefined : compileIpPolicy(config.trusted_proxies, [{ from: 1, to: 65535 }]),
    dispatchers,
    accessLog: config.log.access,
    via: config.via,
    strictSniHost: config.tls.strict_sni_host,
    tls,
    names,
    acmeHttp
  }
  return { snapshot, dispatcherKeys }
}

async function buildTls (config: Config): Promise<TlsSelector | undefined> {
  const certificates = config.tls.certificates.map(c => ({ certFile: c.cert_file, keyFile: c.key_file }))
  // ACME certificates from the store; until the first one is issued, a self-signed stand-in for
  // its names keeps the TLS listeners up.
  for (const c of config.acme?.certificates ?? []) {
    const stored = await readCertificate(config.acme?.store_dir ?? config.state_dir, c.name).catch(() => undefined)
    if (stored !== undefined) {
      certificates.push({ certFile: stored.fullchainFile, keyFile: stored.keyFile })
    } else {
      const s = await ensureSelfSigned(join(config.state_dir, 'acme', 'placeholder', c.name), c.domains)
      certificates.push({ certFile: s.certFile, keyFile: s.keyFile })
    }
  }
  if (config.tls.self_signed !== undefined) {
    const s = await ensureSelfSigned(config.state_dir, config.tls.self_signed.names)
    certificates.push({ certFile: s.certFile, keyFile: s.keyFile })
  }
  if (certificates.length === 0) return undefined
  return await buildTlsContexts({ certificates, minVersion: config.tls.min_version })
}
