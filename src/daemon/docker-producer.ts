import type { Config } from '../config/index.js'
import { DockerWatcher, NameRegistry, startDnsThread, tableDiff, EMPTY_NAME_TABLE, type ContainerProblems, type DnsThread, type NameTable, type WatcherState } from '../dns/index.js'
import { parseListenAddress } from '../util/address.js'
import type { Logger } from '../log/logger.js'

/**
 * The Docker producer: registry + watcher + DNS server, (re)started when their config changes.
 * Registry changes call `onNames`, which swaps a snapshot carrying the new name table.
 */
export class DockerProducer {
  #registry: NameRegistry | undefined
  #watcher: DockerWatcher | undefined
  #dns: DnsThread | undefined
  #dockerKey = ''
  #dnsKey = ''
  readonly #log: Logger
  readonly #onNames: () => void
  readonly #txt: () => Array<[string, readonly string[]]>
  readonly #onQueries: (counts: Record<string, number>) => void

  /** `txt`: the TXT values on offer (ACME DNS-01); call `txtChanged` when they change. */
  constructor (log: Logger, onNames: () => void, txt: () => Array<[string, readonly string[]]>, onQueries: (counts: Record<string, number>) => void) {
    this.#log = log
    this.#onNames = onNames
    this.#txt = txt
    this.#onQueries = onQueries
  }

  /** Resolves once the DNS server answers the current TXT values. */
  async txtChanged (): Promise<void> { await this.#dns?.setTxt(this.#txt()) }

  get table (): NameTable { return this.#registry?.table ?? EMPTY_NAME_TABLE }
  get state (): (WatcherState & { dns_port: number | null, label_problems: ContainerProblems[] }) | null {
    if (this.#watcher === undefined && this.#dns === undefined) return null
    const watcher = this.#watcher?.state ?? { connected: false, lastEventAt: null, lastError: 'docker not configured', reconnects: 0, containers: 0 }
    return { ...watcher, dns_port: this.#dns?.udpPort ?? null, label_problems: this.#registry?.labelProblems ?? [] }
  }

  async apply (config: Config): Promise<void> {
    const d = config.docker
    const dockerKey = JSON.stringify(d ?? null)
    if (dockerKey !== this.#dockerKey) {
      this.#watcher?.stop()
      this.#watcher = undefined
      this.#registry = undefined
      if (d !== undefined) {
        this.#registry = new NameRegistry({
          zone: d.zone.toLowerCase(),
          namePattern: new RegExp(d.name_pattern),
          preferredNetwork: d.network,
          requireHealthy: d.require_healthy,
          onLabelProblems: (container, problems) => { this.#log.warn({ container, problems }, 'docker container labels ignored or refused') }
        })
        let logged = this.#registry.table
        this.#watcher = new DockerWatcher(this.#registry, {
          endpoint: d.endpoint ?? process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock',
          reconcileMs: d.reconcile_interval,
          log: this.#log,
          onChange: () => {
            const table = this.table
            this.#log.info({ ...tableDiff(logged, table), names: table.entries().length }, 'docker names changed')
            logged = table
            void this.#dns?.setNames(this.table)
            this.#onNames()
          }
        })
        this.#watcher.start()
      }
      this.#dockerKey = dockerKey
      void this.#dns?.setNames(this.table)
    }
    const dnsKey = JSON.stringify([config.dns ?? null, d?.zone ?? null])
    if (dnsKey !== this.#dnsKey) {
      await this.#dns?.close()
      this.#dns = undefined
      if (config.dns !== undefined) {
        const hp = parseListenAddress(config.dns.address)!
        this.#dns = await startDnsThread({
          address: hp.host,
          port: hp.port,
          zone: d?.zone,
          ttlSeconds: Math.max(0, Math.round(config.dns.ttl / 1000)),
          rateLimit: config.dns.rate_limit,
          onCounts: this.#onQueries,
          onCrash: err => {
            this.#log.error({ err: err.message }, 'dns thread crashed; DNS is down until the next reload')
            this.#dnsKey = '' // the next reload starts it again
          }
        })
        await Promise.all([this.#dns.setNames(this.table), this.#dns.setTxt(this.#txt())])
        this.#log.info({ address: hp.host, port: this.#dns.udpPort, zone: d?.zone ?? null }, 'dns listening')
      }
      this.#dnsKey = dnsKey
    }
  }

  async stop (): Promise<void> {
    this.#watcher?.stop()
    await this.#dns?.close()
  }
}
