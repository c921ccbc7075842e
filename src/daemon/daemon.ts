import { readFile } from 'node:fs/promises'
import { AggregatorRegistry } from 'prom-client'
import { ConfigError, formatProblem, loadConfigFile, loadWithShared, readLastGood, saveLastGood, watchFile, type Config, type LoadedConfig } from '../config/index.js'
import type { SnapshotStore } from '../snapshot/index.js'
import { startAdmin, Metrics, renderStatusPage, readiness, statusData, mergeStats, type AdminListener, type DaemonFacts, type ReloadRecord } from '../admin/index.js'
import { VERSION } from '../version.js'
import type { Logger } from '../log/logger.js'
import { buildSnapshot, nextGeneration } from './build-snapshot.js'
import { LocalBackend, type ConfigSource, type ServingBackend, type SharedSource } from './backend.js'
import { WorkerPool } from './worker-pool.js'
import { workerCount } from './worker-count.js'
import { DockerProducer } from './docker-producer.js'
import { loadAcmeManager, ChallengeBoard, type AcmeManager, type CertStatus, type RenewResult } from '../acme/index.js'
import { loadStartupConfig } from './config-loader.js'
import type { Cluster, ClusterCertificates } from '../cluster/index.js'

/** The last shared routes applied (from etcd), in the state dir. */
const SHARED_COPY = 'last-good-shared-routes.yaml'

export interface DaemonOptions {
  configFile: string
  /** Start from the last-known-good copy when the file is invalid (default: refuse to start). */
  lastGood: boolean
  stateDir?: string
  log: Logger
}

export interface ReloadResult { ok: boolean, generation?: number, errors?: string[] }

/**
 * Wires producers (config file, Docker, ACME) to the serving backend (this process, or worker
 * processes) and runs the admin API. Reloads are serialised: one at a time, each either fully
 * applied or not at all.
 */
export class Daemon {
  readonly metrics: Metrics
  #backend: ServingBackend | undefined
  readonly #opts: DaemonOptions
  #log: Logger
  #admin: AdminListener | undefined
  #watcher: { close: () => void } | undefined
  #certWatchers: Array<{ close: () => void }> = []
  #reloading: Promise<ReloadResult> = Promise.resolve({ ok: true })
  #lastReload: ReloadRecord | undefined
  /** Why the running config is not the file's: set by a last-known-good start, cleared by a reload. */
  #stale: string | undefined
  #stopping = false
  readonly #startedAt = new Date().toISOString()
  #namesSent: unknown
  readonly #docker: DockerProducer
  readonly #board = new ChallengeBoard()
  #acme: { manager: AcmeManager, key: string } | undefined
  #cluster: { cluster: Cluster, key: string, certificates?: ClusterCertificates } | undefined
  /** The routes from etcd (`cluster.config_key`) in use, or undefined: the file's routes serve. */
  #shared: SharedSource | undefined

  constructor (opts: DaemonOptions) {
    this.#opts = opts
    this.#log = opts.log
    this.metrics = new Metrics({
      connections: () => this.#backend?.localConnections() ?? 0,
      certificates: async () => await this.certificateOverview(),
      docker: () => this.#docker.state,
      stale: () => this.#stale !== undefined,
      cluster: () => this.#cluster?.cluster.health() ?? null
    })
    // A registry change swaps in a snapshot that differs only in its name table.
    this.#docker = new DockerProducer(opts.log, () => {
      if (this.#backend?.store.loaded === true && !this.#stopping) this.#sendNames()
    }, () => this.#board.txtEntries(), counts => { for (const [rcode, n] of Object.entries(counts)) this.metrics.dnsQueries.inc({ rcode }, n) })
    this.#board.publishTo(async entries => { await this.#backend?.publishHttp(entries) })
    this.#board.publishTxtTo(async () => { await this.#docker.txtChanged() })
  }

  /** The daemon's view of the active snapshot. */
  get store (): SnapshotStore {
    if (this.#backend === undefined) throw new Error('not started')
    return this.#backend.store
  }

  /** Set when started from the last-known-good copy (the file is invalid): the reason. */
  get stale (): string | undefined { return this.#stale }

  async start (): Promise<void> {
    const loaded = await this.#withSharedCopy(await loadStartupConfig(this.#opts.configFile, this.#opts.lastGood, this.#opts.stateDir, this.#log))
    this.#log.level = loaded.config.log.level
    const workers = workerCount(loaded.config.workers)
    this.#backend = workers === 1 ? new LocalBackend(this.#log, this.metrics) : new WorkerPool(workers, this.#log)
    await this.#backend.start()
    await this.#apply(loaded.config, loaded)
    if (loaded.invalid === undefined) await this.#persistLastGood(loaded.config.state_dir, loaded.source)
    this.#stale = loaded.invalid
    this.#lastReload = { at: new Date().toISOString(), ok: loaded.invalid === undefined, ...(loaded.invalid === undefined ? {} : { errors: [loaded.invalid] }) }
    this.#watcher = watchFile(this.#opts.configFile, () => { void this.reload('file changed') })
    const serving = mergeStats(await this.#backend.stats())
    this.#log.info({ generation: this.store.current.generation, listeners: serving.listeners, workers: this.#backend.workers()?.pids ?? null, admin: this.#admin?.server.address() ?? null }, 'portico ready')
  }
  /** Serialised; an invalid file is reported and the running snapshot keeps serving. */
  async reload (reason: string): Promise<ReloadResult> {
    this.#reloading = this.#reloading.then(async () => await this.#reloadNow(reason))
    return await this.#reloading
  }

  /** `shared`: new routes from etcd to apply with the file (kept only if the result validates and applies). */
  async #reloadNow (reason: string, shared?: SharedSource): Promise<ReloadResult> {
    if (this.#stopping) return { ok: false, errors: ['shutting down'] }
    try {
      const loaded = await this.#withShared(await loadConfigFile(this.#opts.configFile, { files: true }), shared ?? this.#shared)
      if (workerCount(loaded.config.workers) !== workerCount(this.store.current.config.workers)) {
        this.#log.warn({ running: workerCount(this.store.current.config.workers), configured: loaded.config.workers }, 'workers changed: takes effect at the next restart')
      }
      await this.#apply(loaded.config, loaded)
      await this.#persistLastGood(loaded.config.state_dir, loaded.source)
      if (shared !== undefined && loaded.shared !== undefined) {
        this.#shared = shared
        await saveLastGood(loaded.config.state_dir, shared.text, SHARED_COPY).catch(err => this.#log.warn({ err: (err as Error).message }, 'could not keep the shared config copy'))
      }
      this.#log.level = loaded.config.log.level
      this.#lastReload = { at: new Date().toISOString(), ok: true }
      this.#stale = undefined
      this.metrics.reloads.inc({ result: 'ok' })
      this.#log.info({ reason, generation: this.store.current.generation }, 'config reloaded')
      return { ok: true, generation: this.store.current.generation }
    } catch (err) {
      const errors = err instanceof ConfigError ? err.problems.map(formatProblem) : [(err as Error).message]
      this.#lastReload = { at: new Date().toISOString(), ok: false, errors }
      this.metrics.reloads.inc({ result: 'failed' })
      this.#log.error({ reason, errors }, 'config reload failed; still serving the previous config')
      return { ok: false, errors }
    }
  }

  /** The file's config with its routes replaced by the shared ones (when `cluster.config_key` is set and some are known). */
  async #withShared (loaded: LoadedConfig, shared: SharedSource | undefined): Promise<LoadedConfig & { shared?: SharedSource }> {
    if (shared === undefined || loaded.config.cluster?.config_key === undefined) return loaded
    return { ...loaded, shared, config: await loadWithShared(loaded.source, loaded.file, shared.text, shared.name, { files: true }) }
  }

  /**
   * At start: the shared routes last applied (kept in the state dir), so an instance that starts
   * while etcd is down serves what it served before. A copy that no longer fits the file is set
   * aside (logged); the file's routes serve until etcd delivers.
   */
  async #withSharedCopy (loaded: LoadedConfig & { invalid?: string }): Promise<LoadedConfig & { invalid?: string, shared?: SharedSource }> {
    const c = loaded.config.cluster
    if (c?.config_key === undefined) return loaded
    const text = await readLastGood(loaded.config.state_dir, SHARED_COPY)
    if (text === undefined) return loaded
    const shared = { text, name: `etcd:${c.prefix}${c.config_key} (copy in ${loaded.config.state_dir})` }
    try {
      const withShared = await this.#withShared(loaded, shared)
      this.#shared = shared
      return withShared
    } catch (err) {
      this.#log.error({ errors: err instanceof ConfigError ? err.problems.map(formatProblem) : [(err as Error).message] }, 'the kept copy of the shared routes does not fit the file; serving the file\'s routes until etcd delivers')
      return loaded
    }
  }

  /** New routes from etcd: applied like a reload; an invalid value is refused and the running config keeps serving. */
  async #sharedChanged (text: string, name: string): Promise<void> {
    if (text === this.#shared?.text || this.#stopping) return
    this.#reloading = this.#reloading.then(async () => await this.#reloadNow(`shared config changed in etcd (${name})`, { text, name }))
    await this.#reloading
  }

  /** A full or read-only state dir loses the fallback copy, never the config being applied. */
  async #persistLastGood (stateDir: string, source: string): Promise<void> {
    await saveLastGood(stateDir, source).catch(err => this.#log.warn({ err: (err as Error).message, state_dir: stateDir }, 'could not persist last-good config'))
  }

  /**
   * All or none: every fallible step (snapshot build, listener/DNS/admin binds, token file) runs
   * before anything is switched; a failure aborts what was prepared and leaves every part on the
   * old config.
   */
  async #apply (config: Config, source: ConfigSource): Promise<void> {
    const backend = this.#backend!
    const docker = await this.#docker.prepare(config)
    const undo: Array<() => Promise<void>> = [docker.abort]
    let refusedPairs = 0
    try {
      const built = await buildSnapshot(config, backend.dispatchers, docker.table, token => this.#board.httpToken(token), backend.store.loaded ? backend.store.current.tls : undefined)
      for (const w of built.warnings) this.#log.error({ problem: w }, 'certificate store: pair refused, the working certificate stays')
      const admin = await this.#prepareAdmin(config)
      undo.push(admin.abort)
      const prepared = await backend.prepare({ source: source.source, file: source.file, ...(source.shared === undefined ? {} : { shared: source.shared }) }, built)
      undo.push(prepared.abort)
      await docker.commit()
      if (this.#namesSent !== this.#docker.table) this.#sendNames()
      await prepared.commit()
      admin.commit()
      this.metrics.dockerConfigured(config.docker !== undefined)
      this.#watchCertificates(built.snapshot.tls?.files ?? [])
      refusedPairs = built.warnings.length
    } catch (err) {
      for (const u of undo.reverse()) await u().catch(() => {})
      throw err
    }
    await this.#applyCluster(config)
    await this.#applyAcme(config)
    // A refused pair is served from memory only: the manager re-issues it so a restart keeps it.
    if (refusedPairs > 0) this.#acme?.manager.wake()
  }

  #sendNames (): void {
    this.#namesSent = this.#docker.table
    this.#backend?.setNames(this.#docker.table, nextGeneration())
  }

  /**
   * Joins the etcd cluster when `cluster` is configured (never waits for etcd: the client connects
   * and reconnects in the background). A changed section takes effect at the next restart.
   */
  async #applyCluster (config: Config): Promise<void> {
    const c = config.cluster
    if (this.#cluster !== undefined) {
      if (this.#cluster.key !== JSON.stringify(c ?? null)) this.#log.warn('cluster changed: takes effect at the next restart')
      return
    }
    if (c === undefined) return
    const { openCluster, ClusterNames, shareChallenges, ClusterCertificates, readSecretBox } = await import('../cluster/index.js')
    const cluster = await openCluster(c, this.#log)
    this.#cluster = { cluster, key: JSON.stringify(c) }
    const names = new ClusterNames(cluster, this.#log, () => { if (!this.#stopping) this.#docker.clusterChanged() })
    if (c.config_key !== undefined) {
      const name = `etcd:${c.prefix}${c.config_key}`
      cluster.mirror(c.config_key, entries => {
        const v = entries.get('')
        if (v !== undefined) void this.#sharedChanged(v.toString(), name)
      })
    }
    this.#docker.attachCluster({ name: cluster.name, get hosts () { return names.hosts }, publish: t => { names.publish(t) }, close: () => { names.close() } })
    // Bounded wait for the other instances' answers: this one may soon be asked for them by the CA.
    const answers = await shareChallenges(cluster, this.#board)
    await Promise.race([answers.ready, new Promise(resolve => setTimeout(resolve, 5000).unref())])
    if (c.secret_file !== undefined) this.#cluster.certificates = new ClusterCertificates(cluster, await readSecretBox(c.secret_file), this.#log)
  }

  /** One ACME manager per acme config; issued certificates reach the TLS contexts via a reload. */
  async #applyAcme (config: Config): Promise<void> {
    const key = JSON.stringify([config.acme ?? null, config.state_dir])
    if (this.#acme?.key === key) return
    this.#acme?.manager.stop()
    this.#acme = undefined
    if (config.acme === undefined) return
    const shared = this.#cluster?.certificates
    const manager = new (await loadAcmeManager())({
      config: config.acme,
      stateDir: config.state_dir,
      board: this.#board,
      log: this.#log,
      onIssued: async name => { void this.reload(`certificate issued: ${name}`) },
      ...(shared === undefined ? {} : { shared })
    })
    this.#acme = { manager, key }
    await manager.start()
    // In a cluster, install what the others stored (bounded wait: etcd may be away). A name this
    // instance lacks is not ordered twice meanwhile: its attempt takes the name's lock and finds it.
    await shared?.follow(manager, 5000)
  }

  async certificates (): Promise<CertStatus[]> { return await this.#acme?.manager.status() ?? [] }

  /** Every served certificate (files, self-signed, ACME) plus ACME schedule details. */
  async certificateOverview (): Promise<Array<{ name: string, names: string[], issuer: string, notAfter: string | null, nextRenewal?: string | null, failures?: number, lastError?: string | null, orders?: { ok: number, failed: number } }>> {
    const acme = await this.certificates()
    const served = this.store.loaded ? this.store.current.tls?.certificates ?? [] : []
    const acmeFiles = new Set([...this.store.loaded ? this.store.current.tls?.acmePairs?.values() ?? [] : []].map(p => p.certFile))
    const fromFiles = served.filter(c => !acmeFiles.has(c.certFile))
      .map(c => ({ name: c.names[0] ?? c.certFile, names: c.names, issuer: c.issuer, notAfter: c.notAfter }))
    return [...acme.map(a => ({ name: a.name, names: a.domains, issuer: a.issuer ?? '(not issued yet)', notAfter: a.notAfter, nextRenewal: a.nextRenewal, failures: a.failures, lastError: a.lastError, orders: a.orders })), ...fromFiles]
  }

  async renew (name: string, force: boolean, dryRun = false): Promise<RenewResult> {
    if (this.#acme === undefined) return { ok: false, error: 'acme is not configured' }
    return await this.#acme.manager.renew(name, force, dryRun)
  }

  /** SIGUSR1: reopen the access log file(s) after logrotate moved them. */
  reopenLogs (): void { this.#backend?.reopenLogs() }

  /** Certificate files replaced on disk (certbot renewals, ACME) trigger a reload, which re-reads them. */
  #watchCertificates (files: readonly string[]): void {
    for (const w of this.#certWatchers) w.close()
    this.#certWatchers = this.#stopping ? [] : files.map(f => watchFile(f, () => { void this.reload(`certificate file changed: ${f}`) }, { debounceMs: 500, pollMs: 5000 }))
  }

  /** Reads the token and binds a moved admin listener now; the switch happens in `commit`. */
  async #prepareAdmin (config: Config): Promise<{ commit: () => void, abort: () => Promise<void> }> {
    const a = config.admin
    const settings = a === null ? undefined : {
      token: a.token_file === undefined ? undefined : (await readFile(a.token_file, 'utf8')).trim(),
      allowedOrigins: a.allowed_origins,
      allowedHosts: a.allowed_hosts
    }
    if (a === null || settings === undefined) {
      return { commit: () => { this.#admin?.close(); this.#admin = undefined }, abort: async () => {} }
    }
    if (this.#admin?.address === a.address) {
      const current = this.#admin
      return { commit: () => current.configure(settings), abort: async () => {} }
    }
    const next = await startAdmin(a.address, settings, { backend: this.#adminBackend(), log: this.#log })
    return {
      commit: () => { this.#admin?.close(); this.#admin = next },
      abort: async () => { next.close() }
    }
  }

  /** What the readiness answer and the status page are made from. */
  async #facts (): Promise<DaemonFacts> {
    const workers = this.#backend?.workers()
    return {
      version: VERSION,
      startedAt: this.#startedAt,
      stopping: this.#stopping,
      snapshot: this.#backend?.store.loaded === true ? this.store.current : undefined,
      serving: await this.#backend?.stats() ?? [],
      workers: workers === undefined ? undefined : { configured: workers.configured, respawns: workers.respawns },
      lastReload: this.#lastReload ?? null,
      stale: this.#stale,
      docker: this.#docker.state,
      certificates: async () => await this.certificateOverview(),
      cluster: this.#cluster?.cluster.health() ?? null
    }
  }

  #adminBackend (): Parameters<typeof startAdmin>[2]['backend'] {
    return {
      ready: async () => readiness(await this.#facts()),
      activeConfig: () => this.store.current.config,
      names: () => Object.fromEntries(this.store.current.names.entries()),
      certificates: async () => await this.certificates(),
      metrics: async () => {
        const remote = await this.#backend?.remoteMetrics() ?? []
        const registry = remote.length === 0 ? this.metrics.registry : AggregatorRegistry.aggregate([await this.metrics.registry.getMetricsAsJSON(), ...remote])
        return { contentType: registry.contentType, body: await registry.metrics() }
      },
      statusPage: async () => renderStatusPage(await statusData(await this.#facts())),
      renew: async (name, force, dryRun) => await this.renew(name, force, dryRun),
      reload: async () => await this.reload('admin api')
    }
  }

  /** Graceful stop: refuse new work, drain in-flight requests up to shutdown_timeout. */
  async stop (): Promise<void> {
    if (this.#stopping) return
    this.#stopping = true
    this.#watcher?.close()
    this.#watchCertificates([])
    const drainMs = this.#backend?.store.loaded === true ? this.store.current.config.shutdown_timeout : 10_000
    this.#log.info({ drain_ms: drainMs }, 'shutting down')
    await this.#backend?.stop(drainMs)
    this.#admin?.close()
    this.#acme?.manager.stop()
    await this.#docker.stop()
    await this.#cluster?.cluster.close().catch(err => this.#log.warn({ err: (err as Error).message }, 'cluster: leaving failed'))
    this.#log.info('stopped')
  }
}
