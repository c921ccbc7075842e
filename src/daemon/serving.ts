import { DispatcherRegistry, type AccessEntry } from '../router/index.js'
import { SnapshotStore } from '../snapshot/index.js'
import type { Metrics, ServingStats } from '../admin/index.js'
import { ConnectingSockets, type NameTable } from '../dns/index.js'
import { createAccessFile } from '../log/access-file.js'
import { sinkOf, type Logger } from '../log/logger.js'
import { accessLine } from '../log/access-line.js'
import type { LineSink } from '../log/console.js'
import { ListenerSet } from './listeners.js'
import type { TcpAccessEntry } from '../stream/index.js'
import type { BuiltSnapshot } from './build-snapshot.js'
import { HealthChecks, httpProbe } from '../health/index.js'
import { VERSION } from '../version.js'

/** A snapshot built and its new listeners bound, waiting for the go-ahead (or a cancel). */
export interface Prepared {
  /** Resolves once every serving process serves the new snapshot. */
  commit (): Promise<void>
  abort (): Promise<void>
}

/**
 * The serving side of portico: listeners, upstream pools, the snapshot they read and the access
 * log. Runs inside the daemon with `workers: 1`, and once per worker process otherwise. It only
 * receives snapshots; it never loads config or talks to Docker or an ACME server.
 */
export class Serving {
  readonly store = new SnapshotStore()
  /** Connects to a container address the registry just dropped end at once (and are retried). */
  readonly #connecting = new ConnectingSockets()
  readonly dispatchers = new DispatcherRegistry({ onConnecting: (host, socket) => { this.#connecting.track(host, socket) } })
  readonly #listeners: ListenerSet
  readonly #metrics: Metrics
  readonly #log: Logger
  #names: NameTable | undefined
  readonly #stdout: LineSink
  #accessFile: (ReturnType<typeof createAccessFile> & { path: string }) | undefined
  readonly #health: HealthChecks

  constructor (log: Logger, metrics: Metrics, opts: { reusePort: boolean }) {
    this.#log = log
    this.#stdout = sinkOf(log)
    this.#metrics = metrics
    this.store.onSwap((next, previous) => { if (next.names !== previous?.names) this.#connecting.update(next.names) })
    this.#listeners = new ListenerSet(this.store, {
      view: () => this.store.current,
      access: (e: AccessEntry) => {
        metrics.observe(e)
        if (!this.store.current.accessLog) return
        const format = this.store.current.config.log.access_format
        if (format !== 'json') (this.#accessFile ?? this.#stdout).write(accessLine(e, format) + '\n')
        else if (this.#accessFile !== undefined) this.#accessFile.log.info({ access: e }, 'request')
        else this.#log.info({ access: e }, 'request')
      },
      accessLogged: () => this.store.current.accessLog,
      fault: (err, context) => this.#log.error({ err, ...context }, 'request failed inside portico'),
      boundHttpsPort: () => this.#listeners.boundTlsPort(),
      tunnels: delta => metrics.websockets.inc(delta)
    }, log, opts.reusePort, (host, socket) => { this.#connecting.track(host, socket) }, e => { this.#tcpAccess(e) })
    this.#health = new HealthChecks({
      timers: { set: (fn, ms) => setTimeout(fn, ms).unref(), clear: h => { clearTimeout(h as NodeJS.Timeout) } },
      now: Date.now,
      probeFor: (h, up) => httpProbe(h, up, `portico-health-check/${VERSION}`),
      onResult: (route, upstream, ok) => { metrics.upstreamChecks.inc({ route, upstream, result: ok ? 'ok' : 'failed' }) },
      onChange: (route, upstream, up, detail) => {
        if (up) log.info({ route, upstream, detail }, 'upstream healthy again: back in the pool')
        else log.warn({ route, upstream, detail }, 'upstream failed its health checks: taken out of the pool')
      }
    })
    metrics.upstreamSource(() => this.#health.report())
  }

  /** One entry per closed TCP connection: metrics, and the access log in JSON whatever access_format says. */
  #tcpAccess (e: TcpAccessEntry): void {
    this.#metrics.observeTcp(e)
    if (!this.store.current.accessLog) return
    if (this.#accessFile !== undefined) this.#accessFile.log.info({ tcp: e }, 'tcp connection')
    else this.#log.info({ tcp: e }, 'tcp connection')
  }

  get listeners (): ListenerSet { return this.#listeners }

  /** The latest Docker name table; snapshots committed later carry it too. */
  get names (): NameTable | undefined { return this.#names }

  /** Binds what the new snapshot needs; nothing is served from it before `commit`. */
  async prepare (built: BuiltSnapshot): Promise<Prepared> {
    this.store.provisional(built.snapshot)
    const pending = await this.#listeners.apply(built.snapshot.config.listeners, built.snapshot)
      .catch((err: unknown) => { this.store.provisional(undefined); throw err })
    const health = this.#health.prepare(built.snapshot.routes)
    return {
      commit: async () => {
        health.commit()
        // A name-table change that arrived while this snapshot was being built must not be lost.
        const names = this.#names ?? built.snapshot.names
        this.store.swap(names === built.snapshot.names ? built.snapshot : { ...built.snapshot, names })
        this.#listeners.refresh()
        this.dispatchers.retain(built.dispatcherKeys)
        this.#applyAccessFile(built.snapshot.config.log.access_file)
        void pending.close()
      },
      abort: async () => { this.store.provisional(undefined); await pending.abort() }
    }
  }

  /** A registry change: swap in a snapshot that differs only in its name table. */
  setNames (names: NameTable, generation: number): void {
    this.#names = names
    if (this.store.loaded) this.store.swap({ ...this.store.current, names, generation })
  }

  stats (): ServingStats {
    return {
      pid: process.pid,
      generation: this.store.loaded ? this.store.current.generation : null,
      listeners: this.#listeners.addresses(),
      connections: this.#listeners.connections(),
      inflight: this.#listeners.inflight,
      hits: Object.fromEntries(this.#metrics.hits),
      recentErrors: this.#metrics.recentErrors,
      upstreams: this.#health.report()
    }
  }

  #applyAccessFile (path: string | undefined): void {
    if (this.#accessFile?.path === path) return
    this.#accessFile?.close()
    this.#accessFile = path === undefined ? undefined : { ...createAccessFile(path), path }
  }

  /** SIGUSR1: reopen the access log file after logrotate moved it. */
  reopenLogs (): void {
    this.#accessFile?.reopen()
    this.#log.info({ file: this.#accessFile?.path ?? null }, 'access log reopened')
  }

  /** Stop accepting, drain in-flight requests up to `drainMs`, close upstream pools. */
  async stop (drainMs: number): Promise<void> {
    this.#log.info({ inflight: this.#listeners.inflight, drain_ms: drainMs }, 'draining')
    this.#health.stop()
    await this.#listeners.closeAll(drainMs)
    this.#accessFile?.close()
    await this.dispatchers.closeAll()
  }
}
