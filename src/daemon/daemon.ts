import type { Server } from 'node:http'
import { readFile } from 'node:fs/promises'
import { AggregatorRegistry } from 'prom-client'
import { ConfigError, formatProblem, loadConfigFile, saveLastGood, watchFile, type Config } from '../config/index.js'
import type { SnapshotStore } from '../snapshot/index.js'
import { startAdmin, Metrics, renderStatusPage } from '../admin/index.js'
import { VERSION } from '../version.js'
import type { Logger } from '../log/logger.js'
import { buildSnapshot, nextGeneration } from './build-snapshot.js'
import { LocalBackend, type ConfigSource } from './backend.js'
import { WorkerPool } from './worker-pool.js'
import { workerCount } from './worker-count.js'
import { mergeStats } from './serving.js'
import { DockerProducer } from './docker-producer.js'
import { loadAcmeManager, ChallengeBoard, type AcmeManager, type CertStatus, type RenewResult } from '../acme/index.js'
import { loadStartupConfig } from './config-loader.js'

export interface DaemonOptions {
  configFile: string
  strict: boolean
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
  #backend: LocalBackend | WorkerPool | undefined
  readonly #opts: DaemonOptions
  #log: Logger
  #admin: { server: Server, address: string } | undefined
  #watcher: { close: () => void } | undefined
  #certWatchers: Array<{ close: () => void }> = []
  #reloading: Promise<ReloadResult> = Promise.resolve({ ok: true })
  #lastReload: { at: string, ok: boolean, errors?: string[] } | undefined
  #stopping = false
  readonly #startedAt = new Date().toISOString()
  #namesSent: unknown
  readonly #docker: DockerProducer
  readonly #board = new ChallengeBoard()
  #acme: { manager: AcmeManager, key: string } | undefined

  constructor (opts: DaemonOptions) {
    this.#opts = opts
    this.#log = opts.log
    this.metrics = new Metrics({
      // With workers, connections are counted (and summed) by the workers themselves.
      connections: () => this.#backend instanceof LocalBackend ? this.#backend.connections : 0,
      certificates: async () => await this.certificateOverview(),
      docker: () => this.#docker.state
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

  async start (): Promise<void> {
    const loaded = await loadStartupConfig(this.#opts.configFile, this.#opts.strict, this.#opts.stateDir, this.#log)
    this.#log.level = loaded.config.log.level
    const workers = workerCount(loaded.config.workers)
    if (workers === 1) this.#backend = new LocalBackend(this.#log, this.metrics)
    else {
      const pool = new WorkerPool(workers, this.#log)
      this.#backend = pool
      await pool.start()
    }
    await this.#apply(loaded.config, loaded)
    if (!loaded.fallback) await this.#persistLastGood(loaded.config.state_dir, loaded.source)
    this.#lastReload = { at: new Date().toISOString(), ok: !loaded.fallback, ...(loaded.fallback ? { errors: ['started from last-known-good config: the config file is invalid'] } : {}) }
    this.#watcher = watchFile(this.#opts.configFile, () => { void this.reload('file changed') })
    const serving = mergeStats(await this.#backend!.stats())
    this.#log.info({ generation: this.store.current.generation, listeners: serving.listeners, workers: this.#backend instanceof WorkerPool ? this.#backend.pids() : null, admin: this.#admin?.server.address() ?? null }, 'portico ready')
  }

  /** Serialised; an invalid file is reported and the running snapshot keeps serving. */
  async reload (reason: string): Promise<ReloadResult> {
    this.#reloading = this.#reloading.then(async () => await this.#reloadNow(reason))
    return await this.#reloading
  }

  async #reloadNow (reason: string): Promise<ReloadResult> {
    if (this.#stopping) return { ok: false, errors: ['shutting down'] }
    try {
      const loaded = await loadConfigFile(this.#opts.configFile)
      if (workerCount(loaded.config.workers) !== workerCount(this.store.current.config.workers)) {
        this.#log.warn({ running: workerCount(this.store.current.config.workers), configured: loaded.config.workers }, 'workers changed: takes effect at the next restart')
      }
      await this.#apply(loaded.config, loaded)
      await this.#persistLastGood(loaded.config.state_dir, loaded.source)
      this.#log.level = loaded.config.log.level
      this.#lastReload = { at: new Date().toISOString(), ok: true }
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

  /** A full or read-only state dir loses the fallback copy, never the config being applied. */
  async #persistLastGood (stateDir: string, source: string): Promise<void> {
    await saveLastGood(stateDir, source).catch(err => this.#log.warn({ err: (err as Error).message, state_dir: stateDir }, 'could not persist last-good config'))
  }

  async #apply (config: Config, source: ConfigSource): Promise<void> {
    const backend = this.#backend!
    await this.#docker.apply(config)
    if (this.#namesSent !== this.#docker.table) this.#sendNames()
    const built = await buildSnapshot(config, backend.dispatchers, this.#docker.table, token => this.#board.httpToken(token), backend.store.loaded ? backend.store.current.tls : undefined)
    for (const w of built.warnings) this.#log.error({ problem: w }, 'certificate store: pair refused, the working certificate stays')
    const prepared = await backend.prepare({ source: source.source, file: source.file }, built)
    await prepared.commit()
    await this.#applyAdmin(config)
    this.#watchCertificates(built.snapshot.tls?.files ?? [])
    await this.#applyAcme(config)
    // A refused pair is served from memory only: the manager re-issues it so a restart keeps it.
    if (built.warnings.length > 0) this.#acme?.manager.wake()
  }

  #sendNames (): void {
    this.#namesSent = this.#docker.table
    this.#backend?.setNames(this.#docker.table, nextGeneration())
  }

  /** One ACME manager per acme config; issued certificates reach the TLS contexts via a reload. */
  async #applyAcme (config: Config): Promise<void> {
    const key = JSON.stringify([config.acme ?? null, config.state_dir])
    if (this.#acme?.key === key) return
    this.#acme?.manager.stop()
    this.#acme = undefined
    if (config.acme === undefined) return
    const manager = new (await loadAcmeManager())({
      config: config.acme,
      stateDir: config.state_dir,
      board: this.#board,
      log: this.#log,
      onIssued: async name => { void this.reload(`certificate issued: ${name}`) }
    })
    this.#acme = { manager, key }
    await manager.start()
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

  async #applyAdmin (config: Config): Promise<void> {
    const address = config.admin?.address
    if (this.#admin?.address === address) return
    const token = config.admin?.token_file === undefined ? undefined : (await readFile(config.admin.token_file, 'utf8')).trim()
    const next = address === undefined ? undefined : { server: await startAdmin(address, token, this.#adminBackend()), address }
    const old = this.#admin
    this.#admin = next
    old?.server.close()
    old?.server.closeAllConnections()
  }

  #adminBackend (): Parameters<typeof startAdmin>[2] {
    return {
      ready: async () => {
        const loaded = this.#backend?.store.loaded === true
        const all = await this.#backend?.stats() ?? []
        const serving = mergeStats(all)
        const pool = this.#backend instanceof WorkerPool ? this.#backend : undefined
        return {
          // With workers: ready while at least one worker serves the current generation.
          ready: loaded && !this.#stopping && (pool === undefined || all.some(s => s.generation !== null)),
          detail: {
            generation: loaded ? this.store.current.generation : null,
            listeners: serving.listeners,
            last_reload: this.#lastReload ?? null,
            inflight: serving.inflight,
            docker: this.#docker.state,
            ...(pool === undefined ? {} : { workers: { configured: pool.size, running: all.map(s => ({ pid: s.pid, generation: s.generation, inflight: s.inflight, requests: Object.values(s.hits).reduce((a, b) => a + b, 0) })), respawns: pool.respawns } })
          }
        }
      },
      activeConfig: () => this.store.current.config,
      names: () => Object.fromEntries(this.store.current.names.entries()),
      certificates: async () => await this.certificates(),
      metrics: async () => {
        const remote = await this.#backend?.remoteMetrics() ?? []
        const registry = remote.length === 0 ? this.metrics.registry : AggregatorRegistry.aggregate([await this.metrics.registry.getMetricsAsJSON(), ...remote])
        return { contentType: registry.contentType, body: await registry.metrics() }
      },
      statusPage: async () => {
        const s = this.store.current
        const serving = mergeStats(await this.#backend?.stats() ?? [])
        return renderStatusPage({
          version: VERSION,
          generation: s.generation,
          startedAt: this.#startedAt,
          lastReload: this.#lastReload ?? null,
          listeners: serving.listeners,
          routes: s.routes.routes.map(r => ({ name: r.name, action: r.action.kind, hits: serving.hits[r.name] ?? 0 })),
          certificates: await this.certificateOverview(),
          docker: this.#docker.state,
          names: s.names.entries().map(([name, c]) => ({ name, candidates: c.map(x => ({ containerName: x.containerName, role: x.role, ipv4: x.ipv4 })) })),
          recentErrors: serving.recentErrors
        })
      },
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
    this.#admin?.server.close()
    this.#admin?.server.closeAllConnections()
    this.#acme?.manager.stop()
    await this.#docker.stop()
    this.#log.info('stopped')
  }
}
