import type { MetricObjectWithValues, MetricValue } from 'prom-client'
import type { DispatcherRegistry } from '../router/index.js'
import type { SnapshotStore } from '../snapshot/index.js'
import type { NameTable } from '../dns/index.js'
import type { Metrics } from '../admin/index.js'
import type { Logger } from '../log/logger.js'
import type { BuiltSnapshot } from './build-snapshot.js'
import type { ServingStats } from '../admin/index.js'
import { Serving, type Prepared } from './serving.js'

export type MetricsJson = Array<MetricObjectWithValues<MetricValue<string>>>

/** The config text a snapshot was compiled from; workers compile their own copy from it. */
export interface ConfigSource { source: string, file: string, shared?: SharedSource }

/** The routes from etcd (`cluster.config_key`) that replace the file's: their text and where they come from. */
export interface SharedSource { text: string, name: string }

/**
 * Where requests are served: in this process (`workers: 1`) or in worker processes. The daemon
 * (config, Docker, ACME, admin) talks only to this interface.
 */
export interface ServingBackend {
  /** The daemon's view of the active snapshot (what the admin API shows). */
  readonly store: SnapshotStore
  /** Forks worker processes (if any); nothing is served before the first `prepare`/`commit`. */
  start (): Promise<void>
  /** Client connections open in this process (workers count their own). */
  localConnections (): number
  /** With worker processes: how many are configured, their pids, respawns since start. */
  workers (): { configured: number, pids: number[], respawns: number } | undefined
  /** Upstream pools the daemon compiles snapshots against. */
  readonly dispatchers: DispatcherRegistry
  /** Build and bind everywhere; nothing is served from it until `commit`. All or none. */
  prepare (config: ConfigSource, built: BuiltSnapshot): Promise<Prepared>
  setNames (names: NameTable, generation: number): void
  /** ACME HTTP-01 answers on offer; resolves when every serving process has them. */
  publishHttp (entries: Array<[string, string]>): Promise<void>
  stats (): Promise<ServingStats[]>
  /** Metrics of serving processes other than this one (to aggregate with the daemon's own). */
  remoteMetrics (): Promise<MetricsJson[]>
  reopenLogs (): void
  stop (drainMs: number): Promise<void>
}

/** `workers: 1`: serve from the daemon's own process, sharing its metrics. */
export class LocalBackend implements ServingBackend {
  readonly #serving: Serving

  constructor (log: Logger, metrics: Metrics) {
    this.#serving = new Serving(log, metrics, { reusePort: false })
  }

  get store (): SnapshotStore { return this.#serving.store }
  get dispatchers (): DispatcherRegistry { return this.#serving.dispatchers }
  async start (): Promise<void> {}
  localConnections (): number { return this.#serving.listeners.connections() }
  workers (): undefined { return undefined }
  async prepare (_config: ConfigSource, built: BuiltSnapshot): Promise<Prepared> { return await this.#serving.prepare(built) }
  setNames (names: NameTable, generation: number): void { this.#serving.setNames(names, generation) }
  async publishHttp (): Promise<void> {}
  async stats (): Promise<ServingStats[]> { return [this.#serving.stats()] }
  async remoteMetrics (): Promise<MetricsJson[]> { return [] }
  reopenLogs (): void { this.#serving.reopenLogs() }
  async stop (drainMs: number): Promise<void> { await this.#serving.stop(drainMs) }
}
