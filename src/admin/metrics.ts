import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { AccessEntry } from '../router/index.js'
import type { TcpAccessEntry } from '../stream/index.js'

export interface MetricsSources {
  connections (): number
  certificates (): Promise<Array<{ name: string, notAfter: string | null, nextRenewal?: string | null, failures?: number, orders?: { ok: number, failed: number } }>>
  /** null (or `configured: false`) when the config has no `docker` section: no Docker gauges then. */
  docker (): { configured: boolean, connected: boolean, lastEventAt: string | null } | null
  /** 1 while serving a last-known-good copy because the config file was invalid at start. */
  stale (): boolean
  /** With `cluster`: the etcd connection; null without (no cluster samples then). */
  cluster?: () => { instance: string, connected: boolean, lease: string | null, lastSync: string | null } | null
}

/**
 * Prometheus metrics (prom-client), named `portico_*`. Request metrics are fed from the access
 * entries the request path already produces; gauges about certificates, Docker and connections
 * are read when scraped.
 */
export class Metrics {
  readonly registry = new Registry()
  readonly #requests = new Counter({ name: 'portico_requests_total', help: 'Requests by route, exact status code and status class', labelNames: ['route', 'code', 'class'] as const, registers: [this.registry] })
  readonly #duration = new Histogram({ name: 'portico_request_duration_seconds', help: 'Request duration until the response ended', labelNames: ['route'] as const, buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers: [this.registry] })
  readonly #upstreamErrors = new Counter({ name: 'portico_upstream_errors_total', help: 'Upstream failures answered by portico (502 error, 504 timeout)', labelNames: ['route', 'kind'] as const, registers: [this.registry] })
  readonly #bytes = new Counter({ name: 'portico_response_bytes_total', help: 'Proxied response body bytes', labelNames: ['route'] as const, registers: [this.registry] })
  readonly #bytesIn = new Counter({ name: 'portico_request_bytes_total', help: 'Request body bytes read from clients', labelNames: ['route'] as const, registers: [this.registry] })
  readonly websockets = new Gauge({ name: 'portico_websockets_active', help: 'Open upgraded (websocket) tunnels', registers: [this.registry] })
  readonly reloads = new Counter({ name: 'portico_config_reloads_total', help: 'Config reloads by result', labelNames: ['result'] as const, registers: [this.registry] })
  readonly dnsQueries = new Counter({ name: 'portico_dns_queries_total', help: 'DNS queries by response code', labelNames: ['rcode'] as const, registers: [this.registry] })
  readonly upstreamChecks = new Counter({
    name: 'portico_upstream_checks_total', help: 'Active health checks of pool members by result', labelNames: ['route', 'upstream', 'result'] as const, registers: [this.registry]
  })
  /** Pool members of the serving snapshot (set by the serving side; empty in a primary with workers). */
  #upstreams: () => readonly UpstreamRow[] = () => []
  readonly #tcpConnections = new Counter({ name: 'portico_tcp_connections_total', help: 'Closed TCP-listener connections by listener, route and result (ok or error)', labelNames: ['listener', 'route', 'result'] as const, registers: [this.registry] })
  readonly #tcpBytes = new Counter({ name: 'portico_tcp_bytes_total', help: 'Bytes spliced on TCP routes (in: client to upstream, out: upstream to client)', labelNames: ['route', 'direction'] as const, registers: [this.registry] })
  readonly #docker: Array<Gauge>
  #dockerRegistered = false
  readonly #byRoute = new Map<string, RouteChildren>()
  /** Hits per route, for the status page. */
  readonly hits = new Map<string, number>()
  /** The last few failed requests, for the status page. */
  readonly recentErrors: AccessEntry[] = []

  constructor (sources: MetricsSources) {
    collectDefaultMetrics({ register: this.registry, prefix: 'portico_' })
    const registers = [this.registry]
    new Gauge({ name: 'portico_connections_active', help: 'Open client connections', registers, collect () { this.set(sources.connections()) } })
    new Gauge({
      name: 'portico_certificate_not_after_timestamp_seconds', help: 'Certificate expiry (unix time)', labelNames: ['name'] as const, registers,
      async collect () { for (const c of await sources.certificates()) if (c.notAfter !== null) this.set({ name: c.name }, Date.parse(c.notAfter) / 1000) }
    })
    new Gauge({
      name: 'portico_acme_next_renewal_timestamp_seconds', help: 'Next ACME renewal attempt (unix time)', labelNames: ['name'] as const, registers,
      async collect () { for (const c of await sources.certificates()) if (c.nextRenewal != null) this.set({ name: c.name }, Date.parse(c.nextRenewal) / 1000) }
    })
    new Gauge({
      name: 'portico_acme_failures', help: 'Consecutive failed ACME attempts (0 after a success)', labelNames: ['name'] as const, registers,
      async collect () { for (const c of await sources.certificates()) if (c.failures !== undefined) this.set({ name: c.name }, c.failures) }
    })
    // A counter kept by the ACME manager (since start), exported as one: failures that a later success reset stay visible.
    new Gauge({
      name: 'portico_acme_orders_total', help: 'ACME attempts since start, by result', labelNames: ['name', 'result'] as const, registers,
      async collect () {
        for (const c of await sources.certificates()) {
          if (c.orders === undefined) continue
          this.set({ name: c.name, result: 'ok' }, c.orders.ok)
          this.set({ name: c.name, result: 'failed' }, c.orders.failed)
        }
      }
    })
    const upstreams = (): readonly UpstreamRow[] => this.#upstreams()
    // With workers each process checks on its own: a member counts as healthy only where all agree.
    new Gauge({
      name: 'portico_upstream_healthy', help: '1 while a pool member gets requests first (not checked down, not marked after a failed connect)',
      labelNames: ['route', 'upstream'] as const, registers, aggregator: 'min',
      collect () { this.reset(); for (const u of upstreams()) this.set({ route: u.route, upstream: u.upstream }, u.state === 'up' ? 1 : 0) }
    })
    new Gauge({
      name: 'portico_upstream_inflight', help: 'Requests (and open upgraded connections) in flight per pool member', labelNames: ['route', 'upstream'] as const, registers,
      collect () { this.reset(); for (const u of upstreams()) this.set({ route: u.route, upstream: u.upstream }, u.inflight) }
    })
    new Gauge({
      name: 'portico_config_stale', help: '1 while serving the last-known-good config because the file was invalid at start', registers,
      collect () { this.set(sources.stale() ? 1 : 0) }
    })
    const cluster = (): ReturnType<NonNullable<MetricsSources['cluster']>> => sources.cluster?.() ?? null
    // Labelled by instance and set only under `cluster`: no samples without it.
    new Gauge({
      name: 'portico_cluster_connected', help: '1 while etcd answers this instance', labelNames: ['instance'] as const, registers,
      collect () { this.reset(); const c = cluster(); if (c !== null) this.set({ instance: c.instance }, c.connected ? 1 : 0) }
    })
    new Gauge({
      name: 'portico_cluster_lease_held', help: '1 while this instance holds its etcd lease (its published keys and locks live)', labelNames: ['instance'] as const, registers,
      collect () { this.reset(); const c = cluster(); if (c !== null) this.set({ instance: c.instance }, c.lease === null ? 0 : 1) }
    })
    new Gauge({
      name: 'portico_cluster_last_sync_timestamp_seconds', help: 'When a watch last delivered or a listing last completed (unix time)', labelNames: ['instance'] as const, registers,
      collect () { this.reset(); const c = cluster(); if (c?.lastSync != null) this.set({ instance: c.instance }, Date.parse(c.lastSync) / 1000) }
    })
    // Registered only while Docker is configured (see dockerConfigured): no "connected 0" without Docker.
    this.#docker = [
      new Gauge({ name: 'portico_docker_connected', help: '1 while the Docker events stream is connected', registers: [], collect () { this.set(sources.docker()?.connected === true ? 1 : 0) } }),
      new Gauge({
        name: 'portico_docker_last_event_timestamp_seconds', help: 'Time of the last Docker event (unix time)', registers: [],
        collect () { const at = sources.docker()?.lastEventAt; if (at != null) this.set(Date.parse(at) / 1000) }
      })
    ]
  }

  /** The serving side's pool members, read when scraped. */
  upstreamSource (source: () => readonly UpstreamRow[]): void { this.#upstreams = source }

  /** Called after each applied config: the Docker gauges exist only while `docker` is configured. */
  dockerConfigured (on: boolean): void {
    if (on === this.#dockerRegistered) return
    for (const g of this.#docker) {
      if (on) this.registry.registerMetric(g)
      else this.registry.removeSingleMetric((g as unknown as { name: string }).name)
    }
    this.#dockerRegistered = on
  }

  observeTcp (e: TcpAccessEntry): void {
    const route = e.route ?? '(none)'
    this.#tcpConnections.inc({ listener: e.listener, route, result: e.error === null ? 'ok' : 'error' })
    if (e.bytes_in > 0) this.#tcpBytes.inc({ route, direction: 'in' }, e.bytes_in)
    if (e.bytes_out > 0) this.#tcpBytes.inc({ route, direction: 'out' }, e.bytes_out)
  }

  observe (e: AccessEntry): void {
    const route = e.route ?? '(none)'
    const c = this.#children(route)
    ;(c.requests[e.status] ??= this.#requests.labels({ route, code: String(e.status), class: `${Math.floor(e.status / 100)}xx` })).inc()
    c.duration.observe(e.ms / 1000)
    if (e.bytes > 0) c.bytes.inc(e.bytes)
    if (e.bytesIn > 0) c.bytesIn.inc(e.bytesIn)
    if (e.upstream !== undefined && (e.status === 502 || e.status === 504)) this.#upstreamErrors.inc({ route, kind: e.status === 504 ? 'timeout' : 'error' })
    this.hits.set(route, (this.hits.get(route) ?? 0) + 1)
    if (e.status >= 500 || e.error !== undefined) {
      this.recentErrors.unshift(e)
      if (this.recentErrors.length > 20) this.recentErrors.pop()
    }
  }

  /**
   * Labelled children per route, resolved once: prom-client hashes the label object on every
   * `inc({...})`, which showed up in the request-path profile. Bounded by the number of routes.
   */
  #children (route: string): RouteChildren {
    let c = this.#byRoute.get(route)
    if (c === undefined) {
      c = { requests: [], duration: this.#duration.labels({ route }), bytes: this.#bytes.labels({ route }), bytesIn: this.#bytesIn.labels({ route }) }
      this.#byRoute.set(route, c)
    }
    return c
  }
}

/** What the upstream gauges read of one pool member. */
export interface UpstreamRow { route: string, upstream: string, state: string, inflight: number }

interface RouteChildren {
  /** By exact status (sparse; at most the statuses this route answered). */
  requests: Array<Counter.Internal | undefined>
  duration: Histogram.Internal<string>
  bytes: Counter.Internal
  bytesIn: Counter.Internal
}
