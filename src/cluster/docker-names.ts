import { parseHostNames, type HostNames, type NameTable } from '../dns/index.js'
import { Backoff } from './backoff.js'
import type { Cluster } from './cluster.js'
import type { Mirror } from './mirror.js'
import type { ClusterLog } from './types.js'

const PREFIX = 'docker/'

/**
 * Docker names across hosts: this instance's name table is published at `docker/<instance>`
 * under the instance lease (gone when the instance dies), and every other instance's is mirrored.
 * A failed put is retried with backoff until it lands (only the newest table is ever sent);
 * a value that does not parse leaves its host out, logged once per value. While etcd is away the
 * mirror keeps the last view, so names keep being served.
 */
export class ClusterNames {
  readonly #cluster: Cluster
  readonly #log: ClusterLog
  readonly #mirror: Mirror
  readonly #hosts = new Map<string, HostNames>()
  readonly #backoff = new Backoff(200, 10_000)
  #pending: string | undefined
  #sent: string | undefined
  #sending = false
  #closed = false
  #timer: NodeJS.Timeout | undefined
  #wake: (() => void) | undefined

  /** `onChange` runs after another host's names changed (or it appeared, or dropped out). */
  constructor (cluster: Cluster, log: ClusterLog, onChange: () => void) {
    this.#cluster = cluster
    this.#log = log
    this.#mirror = cluster.mirror(PREFIX, (entries, changed) => {
      for (const host of changed) {
        if (host === cluster.name) continue
        const raw = entries.get(host)
        if (raw === undefined) { this.#hosts.delete(host); continue }
        const parsed = parseHostNames(host, raw.toString())
        if ('problem' in parsed) {
          this.#hosts.delete(host)
          log.warn({ host, problem: parsed.problem }, 'cluster: docker names of a host refused; that host is left out')
        } else {
          this.#hosts.set(host, parsed)
        }
      }
      onChange()
    })
  }

  /** The other hosts' names, in host order. */
  get hosts (): HostNames[] { return [...this.#hosts.values()].sort((a, b) => a.host.localeCompare(b.host)) }

  /** Resolves once the first listing of the other hosts' names arrived. */
  get ready (): Promise<void> { return this.#mirror.ready }

  /** Publishes this host's table (its own containers only; `host` fields are not sent). */
  publish (table: NameTable): void {
    const entries = table.entries().map(([name, list]) => [name, list.map(({ host: _, ...c }) => c)])
    this.#pending = JSON.stringify({ held: table.held === true, entries })
    if (this.#pending === this.#sent) { this.#pending = undefined; return }
    if (!this.#sending) void this.#send()
  }

  async #send (): Promise<void> {
    this.#sending = true
    while (!this.#closed && this.#pending !== undefined) {
      const value = this.#pending
      try {
        await this.#cluster.publish(`${PREFIX}${this.#cluster.name}`, value)
        this.#sent = value
        if (this.#pending === value) this.#pending = undefined
        this.#backoff.reset()
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'cluster: publishing docker names failed; retrying')
        await new Promise<void>(resolve => { this.#wake = resolve; this.#timer = setTimeout(resolve, this.#backoff.next()) })
      }
    }
    this.#sending = false
  }

  close (): void {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#wake?.()
  }
}
