import { readFile } from 'node:fs/promises'
import type { Socket } from 'node:net'
import { Agent, buildConnector, type Dispatcher } from 'undici'
import type { RouteTable, UpstreamSettings } from './route-table.js'

/** Upstream connections per origin; requests beyond it wait for a free one. */
export const MAX_CONNECTIONS_PER_ORIGIN = 1024

/**
 * The request-level TLS server name meaning "send no SNI". undici replaces an empty one by the
 * Host header — for a UAP instance at an IP that is the UAP host name, which the instance's
 * certificate never has and which tells a passive observer which instance is visited.
 */
export const NO_SNI = '-'

/**
 * Idle upstream connections are closed after this long unless the upstream announces its own
 * `Keep-Alive: timeout` (undici honours the hint). Below the 5 s of uvicorn and Node, so an idle
 * connection is rarely reused just as the upstream closes it.
 */
export const KEEP_ALIVE_MS = 4_000

/**
 * undici Agents (one connection pool per upstream origin inside each) shared across snapshots:
 * routes with identical upstream settings share keep-alive connections, and a reload that does
 * not change a route's settings keeps its warm pools. Built when a snapshot is compiled (CA files
 * are read there, never on the request path); agents no snapshot uses any more are closed
 * gracefully, which lets their in-flight requests finish.
 */
export class DispatcherRegistry {
  #byKey = new Map<string, Agent>()
  #bySettings = new WeakMap<UpstreamSettings, Dispatcher>()
  /** The CA bundle read for each route's settings (the engine's upstream connections use it too). */
  #caBySettings = new WeakMap<UpstreamSettings, string>()
  readonly #onConnecting: ((host: string, socket: Socket) => void) | undefined

  /** `onConnecting`: sees every upstream socket before it connects (may destroy it, e.g. its address is gone). */
  constructor (opts: { onConnecting?: (host: string, socket: Socket) => void } = {}) {
    this.#onConnecting = opts.onConnecting
  }

  /** Resolves every route's dispatcher; returns the keys in use, for `retain`. */
  async prepare (table: RouteTable): Promise<Set<string>> {
    const used = new Set<string>()
    for (const route of table.routes) {
      const a = route.action
      if (a.kind === 'redirect' || a.kind === 'respond' || a.kind === 'static') continue
      const ca = a.upstream.caFile === undefined ? undefined : await readFile(a.upstream.caFile, 'utf8')
      const key = JSON.stringify([a.upstream.connectTimeoutMs, a.upstream.headersTimeoutMs, a.upstream.idleTimeoutMs, a.upstream.tlsVerify, a.upstream.serverName, ca])
      let agent = this.#byKey.get(key)
      if (agent === undefined) {
        const connect = buildConnector({
          timeout: a.upstream.connectTimeoutMs,
          rejectUnauthorized: a.upstream.tlsVerify,
          ...(ca === undefined ? {} : { ca }),
          ...(a.upstream.serverName === undefined ? {} : { servername: a.upstream.serverName })
        })
        // Returns what undici's connector returns (the socket it opens), which watched() needs.
        const sniAware: buildConnector.connector = (opts, cb) => connect(opts.servername === NO_SNI ? { ...opts, servername: undefined } : opts, cb)
        agent = new Agent({
          connect: this.#onConnecting === undefined ? sniAware : watched(sniAware, this.#onConnecting),
          headersTimeout: a.upstream.headersTimeoutMs,
          bodyTimeout: a.upstream.idleTimeoutMs,
          keepAliveTimeout: KEEP_ALIVE_MS,
          // An upstream's longer `Keep-Alive: timeout=` hint does not stretch it (as on the engine):
          // hints only shorten the idle time.
          keepAliveMaxTimeout: KEEP_ALIVE_MS,
          pipelining: 1,
          // undici keeps every Client a pool ever opened: without a cap, bursts of requests that
          // clients cancel at once (HTTP/2 rapid reset) grew the pool, and memory, without end.
          connections: MAX_CONNECTIONS_PER_ORIGIN
        })
        this.#byKey.set(key, agent)
      }
      this.#bySettings.set(a.upstream, agent)
      if (ca !== undefined) this.#caBySettings.set(a.upstream, ca)
      used.add(key)
    }
    return used
  }

  get (settings: UpstreamSettings): Dispatcher {
    const d = this.#bySettings.get(settings)
    if (d === undefined) throw new Error('dispatcher not prepared for this route (snapshot compiled without prepare)')
    return d
  }

  /** The route's `tls.ca_file` contents (read in `prepare`, never on the request path). */
  caOf (settings: UpstreamSettings): string | undefined {
    return this.#caBySettings.get(settings)
  }

  /** Closes agents whose keys are not in `keep` (gracefully: queued requests complete first). */
  retain (keep: ReadonlySet<string>): void {
    for (const [key, agent] of this.#byKey) {
      if (keep.has(key)) continue
      this.#byKey.delete(key)
      agent.close().catch(() => {})
    }
  }

  async closeAll (): Promise<void> {
    const agents = [...this.#byKey.values()]
    this.#byKey.clear()
    await Promise.allSettled(agents.map(a => a.close()))
  }
}

/** undici's connector returns the socket it is opening (its type says void): shown to `onConnecting`. */
function watched (base: buildConnector.connector, onConnecting: (host: string, socket: Socket) => void): buildConnector.connector {
  return (opts, callback) => {
    const socket = (base as unknown as (o: typeof opts, cb: typeof callback) => Socket | undefined)(opts, callback)
    if (socket !== undefined) onConnecting(opts.hostname, socket)
  }
}
