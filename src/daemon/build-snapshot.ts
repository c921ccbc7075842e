import type { Config } from '../config/index.js'
import { compileRouteTable, compileIpPolicy, compileClientCertHeaders, type DispatcherRegistry } from '../router/index.js'
import type { Snapshot, TlsSelector } from '../snapshot/index.js'
import { buildTlsContexts, ensureSelfSigned, parseCertificate, type LoadedCertificate } from '../tls/index.js'
import type { NameTable } from '../dns/index.js'
import { readServable } from '../acme/index.js'
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import { errorPageFiles } from '../router/error-pages.js'

let generation = 0

/** Snapshot generations count every swap, whichever producer caused it. */
export function nextGeneration (): number { return ++generation }

export interface BuiltSnapshot {
  snapshot: Snapshot
  /** Keys of the upstream dispatchers this snapshot uses; the rest can be retired after the swap. */
  dispatcherKeys: Set<string>
  /** Problems that did not stop the build (an ACME pair refused, the one served before kept). */
  warnings: string[]
}

/**
 * Compiles a validated config into a snapshot. Everything that can fail (certificate files,
 * CA files, self-signed generation) fails here, before anything is swapped.
 */
export async function buildSnapshot (config: Config, dispatchers: DispatcherRegistry, names: NameTable, acmeHttp?: (token: string) => string | undefined, previous?: TlsSelector): Promise<BuiltSnapshot> {
  const routes = compileRouteTable(config, { errorPageFiles: await readErrorPageFiles(config) })
  const dispatcherKeys = await dispatchers.prepare(routes)
  const warnings: string[] = []
  const tls = await buildTls(config, previous, warnings)
  const snapshot: Snapshot = {
    generation: nextGeneration(),
    config,
    routes,
    trustedProxies: config.trusted_proxies.length === 0 ? undefined : compileIpPolicy(config.trusted_proxies, [{ from: 1, to: 65535 }]),
    dispatchers,
    accessLog: config.log.access,
    via: config.via,
    strictSniHost: config.tls.strict_sni_host,
    clientCertHeaders: compileClientCertHeaders(config.tls.client_auth_headers),
    clientCas: await readClientCas(config),
    tls,
    names,
    acmeHttp
  }
  return { snapshot, dispatcherKeys, warnings }
}

/** Every listener's client CA bundle, read with the snapshot: a reload re-reads the files. */
async function readClientCas (config: Config): Promise<Map<string, string>> {
  const files = new Set(config.listeners.flatMap(l => l.client_ca_file !== undefined ? [l.client_ca_file] : []))
  return new Map(await Promise.all([...files].map(async f => [f, await readFile(f, 'utf8')] as const)))
}

/** Error page files become bytes in the snapshot: the request path never reads them. */
async function readErrorPageFiles (config: Config): Promise<Map<string, Buffer>> {
  const files = errorPageFiles(config.routes)
  return new Map(await Promise.all(files.map(async f => [f, await readFile(f)] as const)))
}

async function buildTls (config: Config, previous: TlsSelector | undefined, warnings: string[]): Promise<TlsSelector | undefined> {
  const certificates: Array<{ certFile: string, keyFile: string } | LoadedCertificate> = config.tls.certificates.map(c => ({ certFile: c.cert_file, keyFile: c.key_file }))
  for (const c of config.acme?.certificates ?? []) {
    const pair = await acmePair(config, c.name, previous, warnings)
    if (pair !== undefined) {
      certificates.push(pair)
    } else {
      // Until the first certificate is issued, a self-signed stand-in for its names keeps the TLS listeners up.
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

/**
 * The ACME certificate to serve: the live pair from the store, read and verified once. A live pair
 * that is broken or gone never replaces a working one: the newer of the pair served until now and
 * the newest good archive version is kept (a self-signed stand-in only before any issuance).
 */
async function acmePair (config: Config, name: string, previous: TlsSelector | undefined, warnings: string[]): Promise<LoadedCertificate | undefined> {
  const { stored, problem } = await readServable(config.acme?.store_dir ?? config.state_dir, name)
    .catch((err: Error) => ({ stored: undefined, problem: err.message }))
  const fromStore = stored === undefined ? undefined : { ...parseCertificate(stored.fullchain, stored.key, stored.fullchainFile, stored.keyFile), acmeName: name }
  if (fromStore !== undefined && problem === undefined) return fromStore
  const served = previous?.acmePairs?.get(name)
  const kept = served === undefined ? undefined : { ...parseCertificate(served.cert, served.key, served.certFile, served.keyFile), acmeName: name }
  const best = [kept, fromStore].filter(x => x !== undefined).sort((a, b) => b.notAfter.getTime() - a.notAfter.getTime())[0]
  if (best !== undefined) warnings.push(`acme certificate ${name}: ${problem ?? 'the live pair is gone'}; still serving serial ${best.serial} (${best.certFile})`)
  return best
}
