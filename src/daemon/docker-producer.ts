import type { Config } from '../config/index.js'
import {
  DockerWatcher, NameRegistry, startDnsThread, tableDiff, mergeNameTables, EMPTY_NAME_TABLE,
  type ContainerProblems, type DnsThread, type DnsThreadOptions, type HostNames, type NameTable, type WatcherState
} from '../dns/index.js'
import { parseListenAddress } from '../util/address.js'
import type { Logger } from '../log/logger.js'

/** A Docker/DNS configuration built but not yet in effect: `commit` switches to it, `abort` drops it. */
export interface PreparedDocker {
  /** The name table the new snapshot starts with (the running one when `docker` did not change). */
  table: NameTable
  commit (): Promise<void>
  abort (): Promise<void>
}

/** The other hosts' Docker names (src/cluster's ClusterNames, loaded only with `cluster`). */
export interface ClusterNameSource {
  readonly name: string
  readonly hosts: HostNames[]
  publish: (table: NameTable) => void
  close: () => void
}

/**
 * The Docker producer: registry + watcher + DNS server (on its own thread), (re)started when
 * their config changes. Registry changes call `onNames`, which swaps a snapshot carrying the new
 * name table. Two-phase like the listeners: a reload that fails later leaves the producer on its
 * old config.
 */
export class DockerProducer {
  #registry: NameRegistry | undefined
  #watcher: DockerWatcher | undefined
  #dns: DnsThread | undefined
  #dockerKey = 'null'
  #dnsKey = JSON.stringify([null, null])
  readonly #log: Logger
  readonly #onNames: () => void
  readonly #txt: () => Array<[string, readonly string[]]>
  readonly #onQueries: (counts: Record<string, number>) => void
  #cluster: ClusterNameSource | undefined
  /** The merged view, rebuilt only when the local table or the other hosts' names changed. */
  #merged: { local: NameTable, hosts: HostNames[], zone: string | undefined, table: NameTable } | undefined
  #zone: string | undefined
  #mergeGeneration = 0

  /** `txt`: the TXT values on offer (ACME DNS-01); call `txtChanged` when they change. */
  constructor (log: Logger, onNames: () => void, txt: () => Array<[string, readonly string[]]>, onQueries: (counts: Record<string, number>) => void) {
    this.#log = log
    this.#onNames = onNames
    this.#txt = txt
    this.#onQueries = onQueries
  }

  /** Resolves once the DNS server answers the current TXT values. */
  async txtChanged (): Promise<void> { await this.#dns?.setTxt(this.#txt()) }

  /** The names served: this host's registry, merged with the other hosts' under `cluster`. */
  get table (): NameTable { return this.#view(this.#registry, this.#zone) }

  #view (registry: NameRegistry | undefined, zone: string | undefined): NameTable {
    const local = registry?.table ?? EMPTY_NAME_TABLE
    const c = this.#cluster
    if (c === undefined) return local
    const hosts = c.hosts
    const m = this.#merged
    if (m?.local === local && m.zone === zone && m.hosts.length === hosts.length && m.hosts.every((h, i) => h === hosts[i])) return m.table
    const table = mergeNameTables(++this.#mergeGeneration, local, c.name, hosts, zone)
    this.#merged = { local, hosts, zone, table }
    return table
  }

  /**
   * Under `cluster`: publishes this host's names and serves the merged view from now on; called
   * once, after the cluster is joined.
   */
  attachCluster (source: ClusterNameSource): void {
    this.#cluster = source
    if (this.#registry !== undefined && this.#watcher !== undefined) source.publish(this.#registry.table)
    this.#namesChanged()
  }

  /** Another host's names changed: the merged view is swapped in. */
  clusterChanged (): void {
    const before = this.#merged?.table
    if (this.table !== before) this.#namesChanged()
  }

  #namesChanged (): void {
    void this.#dns?.setNames(this.table, this.#registry?.subnets)
    this.#onNames()
  }

  /** Watcher state; null when neither `docker` nor `dns` is configured. */
  get state (): (Omit<WatcherState, 'lastError'> & {
    configured: boolean, lastError: string | null, dns_port: number | null, label_problems: ContainerProblems[]
  }) | null {
    if (this.#watcher === undefined && this.#dns === undefined) return null
    const watcher = this.#watcher?.state ?? { connected: false, lastEventAt: null, lastError: null, reconnects: 0, containers: 0 }
    return {
      ...watcher,
      configured: this.#watcher !== undefined,
      dns_port: this.#dns?.udpPort ?? null,
      label_problems: this.#registry?.labelProblems ?? []
    }
  }

  /**
   * Binds a new DNS server if its address changed (fallible, so before the swap); the Docker
   * watcher of a changed `docker` section is created here and started only on commit.
   */
  async prepare (config: Config): Promise<PreparedDocker> {
    const d = config.docker
    const dockerKey = JSON.stringify(d ?? null)
    const dnsKey = JSON.stringify([config.dns ?? null, d?.zone ?? null])
    const dockerChanged = dockerKey !== this.#dockerKey
    const registry = !dockerChanged || d === undefined
      ? (dockerChanged ? undefined : this.#registry)
      : new NameRegistry({
        zone: d.zone.toLowerCase(),
        namePattern: new RegExp(d.name_pattern),
        preferredNetwork: d.network,
        requireHealthy: d.require_healthy,
        onLabelProblems: (container, problems) => { this.#log.warn({ container, problems }, 'docker container labels ignored or refused') }
      })
    const dnsChanged = dnsKey !== this.#dnsKey
    // A DNS server on a new address binds now; one that keeps a fixed address is restarted on commit.
    const hp = config.dns === undefined ? undefined : parseListenAddress(config.dns.address)!
    const sameAddress = hp !== undefined && hp.port !== 0 &&
      JSON.stringify(JSON.parse(this.#dnsKey)[0]?.address ?? null) === JSON.stringify(config.dns?.address)
    const startDns = async (): Promise<DnsThread | undefined> => {
      if (hp === undefined || config.dns === undefined) return undefined
      const dns = await startDnsThread({
        address: hp.host,
        port: hp.port,
        zone: d?.zone,
        ttlSeconds: Math.max(0, Math.round(config.dns.ttl / 1000)),
        rateLimit: config.dns.rate_limit,
        forward: forwardOptions(config.dns),
        onCounts: this.#onQueries,
        onCrash: err => {
          this.#log.error({ err: err.message }, 'dns thread crashed; DNS is down until the next reload')
          this.#dnsKey = JSON.stringify([null, null]) // the next reload starts it again
        }
      })
      await Promise.all([dns.setNames(this.#view(registry, d?.zone.toLowerCase()), registry?.subnets), dns.setTxt(this.#txt())])
      return dns
    }
    const early = dnsChanged && !sameAddress ? await startDns() : undefined
    return {
      table: this.#view(registry, d?.zone.toLowerCase()),
      commit: async () => {
        if (dockerChanged) this.#switchWatcher(d, registry)
        if (dnsChanged) {
          await this.#dns?.close()
          this.#dns = sameAddress ? await startDns() : early
          this.#dnsKey = dnsKey
          if (this.#dns !== undefined) this.#log.info({ address: hp?.host, port: this.#dns.udpPort, zone: d?.zone ?? null }, 'dns listening')
        }
        if (dockerChanged) await this.#dns?.setNames(this.table, this.#registry?.subnets)
      },
      abort: async () => { await early?.close() }
    }
  }

  #switchWatcher (d: Config['docker'], registry: NameRegistry | undefined): void {
    this.#watcher?.stop()
    this.#watcher = undefined
    this.#registry = registry
    this.#zone = d?.zone.toLowerCase()
    this.#dockerKey = JSON.stringify(d ?? null)
    // A host without a watcher publishes nothing (an empty table replaces what it published before).
    this.#cluster?.publish(d?.watch === true ? registry?.table ?? EMPTY_NAME_TABLE : EMPTY_NAME_TABLE)
    if (d === undefined || registry === undefined || !d.watch) return
    let logged = registry.table
    this.#watcher = new DockerWatcher(registry, {
      endpoint: d.endpoint ?? process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock',
      reconcileMs: d.reconcile_interval,
      log: this.#log,
      onChange: () => {
        const table = registry.table
        this.#log.info({ ...tableDiff(logged, table), names: table.entries().length }, 'docker names changed')
        logged = table
        this.#cluster?.publish(table)
        this.#namesChanged()
      }
    })
    this.#watcher.start()
  }

  async stop (): Promise<void> {
    this.#cluster?.close()
    this.#watcher?.stop()
    await this.#dns?.close()
  }
}

/** The DNS thread's forwarding settings from `dns` (plain data: it is posted to the thread). */
function forwardOptions (dns: NonNullable<Config['dns']>): DnsThreadOptions['forward'] {
  if (dns.forwarders.length === 0) return undefined
  return {
    upstreams: dns.forwarders.map(a => { const hp = parseListenAddress(a)!; return { host: hp.host, port: hp.port } }),
    timeoutMs: dns.forward_timeout,
    maxInflight: dns.forward_max_inflight,
    cacheBytes: dns.cache_size,
    maxTtl: Math.floor(dns.cache_max_ttl / 1000),
    negativeTtl: Math.floor(dns.cache_negative_ttl / 1000),
    allow: dns.allow
  }
}
