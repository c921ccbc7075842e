import type Docker from 'dockerode'
import type { Readable } from 'node:stream'
import net from 'node:net'
import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'
import type { ContainerFacts } from './container-names.js'
import type { NameRegistry } from './registry.js'

export interface WatcherState {
  connected: boolean
  lastEventAt: string | null
  lastError: string | null
  reconnects: number
  containers: number
}

export interface WatcherOptions {
  /** unix:///path, tcp://host:port, or a bare socket path. */
  endpoint: string
  reconcileMs: number
  log: { info: (o: object, m: string) => void, warn: (o: object, m: string) => void }
  onChange: () => void
  backoff?: { minMs: number, maxMs: number }
}

/** Reconnect backoff: short and capped, so a returning dockerd is seen within ~250 ms. */
const BACKOFF = { minMs: 50, maxMs: 250 }
const PROBE_TIMEOUT_MS = 1000
const LOG_EVERY = 300

/**
 * Follows dockerd and keeps the registry in sync. The events stream is opened *before* the
 * full listing, so no change between the two is missed; events only mark container ids dirty
 * and one worker inspects them (coalescing bursts, never applying an older inspect over a
 * newer one). Disconnects are retried forever with short capped backoff and jitter (and at once
 * when the unix socket reappears), creating a new client each time (a restarted dockerd has a
 * new socket inode).
 *
 * After a disconnect the old table keeps serving only while dockerd is down (its socket absent
 * or refusing): nobody can hand a container's address to another one then. Once the socket
 * accepts again, dockerd may already be restarting containers (it binds its socket before it
 * restores them), so the table is held until the full resync replaces it.
 */
export class DockerWatcher {
  readonly #opts: WatcherOptions
  readonly #registry: NameRegistry
  #docker: Docker | undefined
  #events: Readable | undefined
  #dirty = new Set<string>()
  /** Containers seen dying since their last `start` event (guards against stale inspects). */
  readonly #died = new Set<string>()
  #working = false
  #stopped = false
  /** Before the first sync the table is empty anyway: nothing to hold. */
  #everConnected = false
  #attempt = 0
  #retryTimer: NodeJS.Timeout | undefined
  #reconcileTimer: NodeJS.Timeout | undefined
  #socketWatch: FSWatcher | undefined
  readonly state: WatcherState = { connected: false, lastEventAt: null, lastError: null, reconnects: 0, containers: 0 }

  constructor (registry: NameRegistry, opts: WatcherOptions) {
    this.#registry = registry
    this.#opts = opts
  }

  start (): void {
    this.#watchSocket()
    void this.#connect()
    this.#reconcileTimer = setInterval(() => { if (this.state.connected) void this.#reconcile().catch(err => this.#disconnected(err as Error)) }, this.#opts.reconcileMs)
    this.#reconcileTimer.unref()
  }

  stop (): void {
    this.#stopped = true
    clearTimeout(this.#retryTimer)
    clearInterval(this.#reconcileTimer)
    this.#socketWatch?.close()
    this.#events?.destroy()
  }

  /** A unix socket that reappears means dockerd is starting: connect now, not at the next retry. */
  #watchSocket (): void {
    const path = socketPath(this.#opts.endpoint)
    if (path === undefined) return
    try {
      this.#socketWatch = watch(dirname(path), (_event, file) => {
        if (file !== basename(path) || this.state.connected || this.#retryTimer === undefined) return
        clearTimeout(this.#retryTimer)
        this.#retryTimer = undefined
        void this.#connect()
      })
      this.#socketWatch.on('error', () => {})
      this.#socketWatch.unref()
    } catch {} // no such directory yet: the retries still find dockerd
  }

  /** Whether dockerd accepts connections (even if its API is not serving yet). */
  async #reachable (): Promise<boolean> {
    const e = this.#opts.endpoint
    const path = socketPath(e)
    const u = path === undefined ? new URL(e.replace(/^tcp:/, 'http:')) : undefined
    return await new Promise<boolean>(resolve => {
      const s = path !== undefined ? net.connect(path) : net.connect(Number(u!.port || 2375), u!.hostname)
      const done = (ok: boolean): void => { s.destroy(); resolve(ok) }
      s.setTimeout(PROBE_TIMEOUT_MS, () => done(true)) // accepted or hanging: something is there
      s.once('connect', () => done(true))
      s.once('error', () => done(false))
    })
  }

  async #connect (): Promise<void> {
    if (this.#stopped) return
    try {
      // Down: the old table stays (nothing can take its addresses). Up: held until resynced.
      const up = await this.#reachable()
      if (this.#registry.hold(up && this.#everConnected)) this.#opts.onChange()
      if (!up) throw new Error(`dockerd not reachable at ${this.#opts.endpoint}`)
      // dockerode (and its ssh/protobuf stack) loads only when Docker is configured.
      const { default: DockerClient } = await import('dockerode')
      this.#docker = new DockerClient(dockerOptions(this.#opts.endpoint))
      const events = await this.#docker.getEvents({ filters: { type: ['container', 'network'] } }) as unknown as Readable
      this.#events = events
      let buffered = ''
      events.on('data', (chunk: Buffer) => {
        buffered += chunk.toString()
        let nl = buffered.indexOf('\n')
        while (nl >= 0) {
          this.#onEvent(buffered.slice(0, nl))
          buffered = buffered.slice(nl + 1)
          nl = buffered.indexOf('\n')
        }
      })
      events.once('error', err => this.#disconnected(err))
      events.once('close', () => this.#disconnected(new Error('events stream closed')))
      await this.#reconcile()
      this.#everConnected = true
      this.state.connected = true
      this.state.lastError = null
      this.#attempt = 0
      this.#opts.log.info({ endpoint: this.#opts.endpoint, containers: this.#registry.size }, 'docker watcher connected')
    } catch (err) {
      this.#disconnected(err as Error)
    }
  }

  #disconnected (err: Error): void {
    if (this.#stopped || this.#retryTimer !== undefined) return
    const wasConnected = this.state.connected
    this.state.connected = false
    this.state.lastError = err.message
    this.#events?.removeAllListeners()
    this.#events?.destroy()
    this.#events = undefined
    const { minMs, maxMs } = this.#opts.backoff ?? BACKOFF
    const delay = Math.min(maxMs, minMs * 2 ** this.#attempt) * (0.5 + Math.random() / 2)
    this.#attempt++
    this.state.reconnects++
    // Retries are frequent: log the disconnect, then about once a minute while it lasts.
    if (wasConnected || this.#attempt % LOG_EVERY === 1) {
      this.#opts.log.warn({ err: err.message, retry_ms: Math.round(delay), was_connected: wasConnected, attempts: this.#attempt }, 'docker watcher disconnected; reconnecting')
    }
    this.#retryTimer = setTimeout(() => { this.#retryTimer = undefined; void this.#connect() }, delay)
    this.#retryTimer.unref()
  }

  #onEvent (line: string): void {
    let e: { Type?: string, Action?: string, Actor?: { ID?: string, Attributes?: Record<string, string> } }
    try { e = JSON.parse(line) } catch { return }
    this.state.lastEventAt = new Date().toISOString()
    const id = e.Type === 'network' ? e.Actor?.Attributes?.container : e.Actor?.ID
    if (id === undefined || id === '') return
    // A container that died serves nothing: drop it now rather than after an inspect round trip
    // (which queues behind earlier ones and is slow on a busy dockerd), so a maintenance
    // container takes over at once. The inspect below still runs and confirms.
    if (e.Type === 'container' && e.Action === 'start') this.#died.delete(id)
    if (e.Type === 'container' && (e.Action === 'die' || e.Action === 'destroy')) {
      this.#died.add(id)
      if (this.#registry.remove(id)) {
        this.state.containers = this.#registry.size
        this.#opts.onChange()
      }
    }
    this.#dirty.add(id)
    void this.#work()
  }

  async #work (): Promise<void> {
    if (this.#working) return
    this.#working = true
    try {
      while (this.#dirty.size > 0 && !this.#stopped) {
        const id = this.#dirty.values().next().value as string
        this.#dirty.delete(id)
        let facts: ContainerFacts | undefined
        try {
          facts = await this.#inspect(id)
        } catch (err) {
          // dockerd went away mid-burst: the reconcile after reconnecting covers this id.
          this.#disconnected(err as Error)
          return
        }
        // An inspect that began before the `die` event may still report it running: stale.
        const gone = facts === undefined || (facts.running && this.#died.has(id))
        const changed = gone || facts === undefined ? this.#registry.remove(id) : this.#registry.upsert(facts)
        this.state.containers = this.#registry.size
        if (changed) this.#opts.onChange()
      }
    } finally {
      this.#working = false
    }
  }

  async #reconcile (): Promise<void> {
    const docker = this.#docker
    if (docker === undefined) return
    const list = await docker.listContainers({ all: false })
    const all: ContainerFacts[] = []
    for (const c of list) {
      const f = await this.#inspect(c.Id)
      if (f !== undefined && !(f.running && this.#died.has(c.Id))) all.push(f)
    }
    const changed = this.#registry.replaceAll(all)
    this.state.containers = this.#registry.size
    if (changed) this.#opts.onChange()
  }

  async #inspect (id: string): Promise<ContainerFacts | undefined> {
    const docker = this.#docker
    if (docker === undefined) return undefined
    try {
      const i = await docker.getContainer(id).inspect()
      const networks: Record<string, ContainerFacts['networks'][string]> = {}
      for (const [name, n] of Object.entries(i.NetworkSettings?.Networks ?? {})) {
        networks[name] = {
          ipv4: n.IPAddress === '' ? undefined : n.IPAddress,
          ipv6: n.GlobalIPv6Address === '' ? undefined : n.GlobalIPv6Address,
          ipv4Prefix: n.IPPrefixLen,
          ipv6Prefix: n.GlobalIPv6PrefixLen
        }
      }
      return {
        id: i.Id,
        name: i.Name,
        labels: i.Config?.Labels ?? {},
        running: i.State?.Running === true && i.State?.Paused !== true,
        health: i.State?.Health?.Status,
        networks
      }
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined
      throw err
    }
  }
}

function socketPath (endpoint: string): string | undefined {
  return endpoint.startsWith('tcp://') || endpoint.startsWith('http://') ? undefined : endpoint.replace(/^unix:\/\//, '')
}

function dockerOptions (endpoint: string): Docker.DockerOptions {
  if (endpoint.startsWith('tcp://') || endpoint.startsWith('http://')) {
    const u = new URL(endpoint.replace(/^tcp:/, 'http:'))
    return { host: u.hostname, port: Number(u.port || 2375), protocol: 'http' }
  }
  return { socketPath: endpoint.replace(/^unix:\/\//, '') }
}
