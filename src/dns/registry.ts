import { addressBytes } from './wire.js'
import { inspectClaim, type ContainerFacts, type LabelProblem, type NamingOptions, type Role } from './container-names.js'

/** One container able to answer for a name. */
export interface Candidate {
  containerId: string
  containerName: string
  ipv4: string | undefined
  ipv6: string | undefined
  port: number | undefined
  role: Role
  priority: number
  /** With `cluster`: the instance (host) whose Docker watcher saw the container. */
  host?: string
}

/**
 * Immutable name table: name → candidates ordered best first (priority, then primary before
 * maintenance, then container id for a stable order). Part of the snapshot the router reads.
 */
export interface NameTable {
  readonly generation: number
  /**
   * Set while dockerd is back but not yet resynced: it may already have given a container's old
   * address to another one, so nothing may be routed or answered from these entries (requests
   * wait for the resync, DNS answers SERVFAIL).
   */
  readonly held?: boolean
  lookup (name: string): readonly Candidate[] | undefined
  /** For PTR: address → names. */
  reverse (ip: string): readonly string[] | undefined
  entries (): ReadonlyArray<readonly [string, readonly Candidate[]]>
}

export interface RegistryOptions extends NamingOptions {
  preferredNetwork: string | undefined
  requireHealthy: boolean
  /** Called once per container when its label problems first appear or change. */
  onLabelProblems?: (container: string, problems: readonly LabelProblem[]) => void
}

export interface ContainerProblems { container: string, problems: readonly LabelProblem[] }

/**
 * The live registry, keyed by container id (names get reused; compose emits events out of
 * order). Every change produces a new NameTable for the next snapshot.
 */
export class NameRegistry {
  readonly #containers = new Map<string, ContainerFacts>()
  readonly #opts: RegistryOptions
  #generation = 0
  #table: NameTable
  #held = false
  /** The Docker networks (CIDRs) of the running containers: `dns.allow: docker` recurses for them. */
  #subnets: readonly string[] = []
  /** Label problems of the running containers, by id (what the status page shows). */
  #problems = new Map<string, ContainerProblems>()

  constructor (opts: RegistryOptions) {
    this.#opts = opts
    this.#table = this.#build()
  }

  get table (): NameTable { return this.#table }
  get subnets (): readonly string[] { return this.#subnets }
  get size (): number { return this.#containers.size }
  get labelProblems (): ContainerProblems[] { return [...this.#problems.values()] }

  /** Inserts or replaces a container's facts; returns whether the published table changed. */
  upsert (c: ContainerFacts): boolean {
    this.#containers.set(c.id, c)
    return this.#rebuild()
  }

  remove (id: string): boolean {
    if (!this.#containers.delete(id)) return false
    return this.#rebuild()
  }

  /** Replaces everything with a full listing (reconcile after start or reconnect); confirms a held table. */
  replaceAll (all: readonly ContainerFacts[]): boolean {
    this.#containers.clear()
    for (const c of all) this.#containers.set(c.id, c)
    const wasHeld = this.#held
    this.#held = false
    return this.#rebuild() || wasHeld
  }

  /** Holds the table (dockerd is back, not yet resynced) or releases it; returns whether that changed. */
  hold (held: boolean): boolean {
    if (this.#held === held) return false
    this.#held = held
    this.#table = nameTableFromEntries(++this.#generation, this.#table.entries(), held)
    return true
  }

  #rebuild (): boolean {
    const next = this.#build()
    const subnets = this.#listSubnets()
    const changed = next.held !== this.#table.held || JSON.stringify(next.entries()) !== JSON.stringify(this.#table.entries()) ||
      subnets.join() !== this.#subnets.join()
    if (changed) { this.#table = next; this.#subnets = subnets }
    return changed
  }

  #listSubnets (): string[] {
    const out = new Set<string>()
    for (const c of this.#containers.values()) {
      if (!c.running) continue
      for (const [name, n] of Object.entries(c.networks)) {
        if (this.#opts.preferredNetwork !== undefined && name !== this.#opts.preferredNetwork) continue
        for (const [ip, prefix] of [[n.ipv4, n.ipv4Prefix], [n.ipv6, n.ipv6Prefix]] as const) {
          const cidr = ip === undefined || prefix === undefined || prefix === 0 ? undefined : networkOf(ip, prefix)
          if (cidr !== undefined) out.add(cidr)
        }
      }
    }
    return [...out].sort()
  }

  #build (): NameTable {
    const byName = new Map<string, Candidate[]>()
    const problems = new Map<string, ContainerProblems>()
    for (const c of this.#containers.values()) {
      if (!c.running) continue
      const { claim, problems: found } = inspectClaim(c, this.#opts)
      if (found.length > 0) problems.set(c.id, { container: c.name.replace(/^\//, ''), problems: found })
      if (this.#opts.requireHealthy && c.health !== undefined && c.health !== 'healthy') continue
      if (claim === undefined) continue
      const net = this.#pickNetwork(c)
      if (net === undefined) continue
      const cand: Candidate = { containerId: c.id, containerName: c.name.replace(/^\//, ''), ipv4: net.ipv4, ipv6: net.ipv6, port: claim.port, role: claim.role, priority: claim.priority }
      for (const name of claim.names) byName.set(name, [...(byName.get(name) ?? []), cand])
    }
    this.#reportProblems(problems)
    for (const list of byName.values()) list.sort(compareCandidates)
    return nameTableFromEntries(++this.#generation, [...byName.entries()].sort(([a], [b]) => a.localeCompare(b)), this.#held)
  }

  #reportProblems (next: Map<string, ContainerProblems>): void {
    const previous = this.#problems
    this.#problems = next
    for (const [id, p] of next) {
      if (JSON.stringify(previous.get(id)) !== JSON.stringify(p)) this.#opts.onLabelProblems?.(p.container, p.problems)
    }
  }

  #pickNetwork (c: ContainerFacts): { ipv4: string | undefined, ipv6: string | undefined } | undefined {
    const preferred = this.#opts.preferredNetwork
    if (preferred !== undefined) {
      const n = c.networks[preferred]
      return n !== undefined && (n.ipv4 !== undefined || n.ipv6 !== undefined) ? n : undefined
    }
    for (const name of Object.keys(c.networks).sort()) {
      const n = c.networks[name]!
      if (n.ipv4 !== undefined || n.ipv6 !== undefined) return n
    }
    return undefined
  }
}

/** Best first: higher priority, then primary before maintenance. */
export function compareRank (a: Candidate, b: Candidate): number {
  return b.priority - a.priority || (a.role === b.role ? 0 : a.role === 'primary' ? -1 : 1)
}

/** Rank, then container id (a stable order). */
function compareCandidates (a: Candidate, b: Candidate): number {
  return compareRank(a, b) || a.containerId.localeCompare(b.containerId)
}

/**
 * A table from its entries (sorted by name, candidates best first). Workers rebuild the
 * primary's table from these entries, received over IPC.
 */
export function nameTableFromEntries (generation: number, entries: ReadonlyArray<readonly [string, readonly Candidate[]]>, held = false): NameTable {
  const byName = new Map(entries)
  const byIp = new Map<string, string[]>()
  for (const [name, candidates] of entries) {
    for (const c of candidates) for (const ip of [c.ipv4, c.ipv6]) if (ip !== undefined) byIp.set(ipKey(ip), [...(byIp.get(ipKey(ip)) ?? []), name])
  }
  return { generation, held, lookup: name => byName.get(name), reverse: ip => byIp.get(ipKey(ip)), entries: () => entries }
}

/** IPv6 addresses have many spellings (fd00::2, fd00:0:0::0002): keyed by their bytes. */
function ipKey (ip: string): string {
  return ip.includes(':') ? addressBytes(ip)?.toString('hex') ?? ip : ip
}

export const EMPTY_NAME_TABLE: NameTable = { generation: 0, lookup: () => undefined, reverse: () => undefined, entries: () => [] }

/** What changed between two tables, name by name (`name=address`, the best candidate's): for the log. */
export function tableDiff (before: NameTable, after: NameTable): { added: string[], removed: string[], changed: string[] } {
  const best = (c: readonly Candidate[] | undefined): string => c === undefined ? '' : `${c[0]?.ipv4 ?? c[0]?.ipv6 ?? ''}${c.length > 1 ? ` (+${c.length - 1})` : ''}`
  const diff = { added: [] as string[], removed: [] as string[], changed: [] as string[] }
  for (const [name, c] of after.entries()) {
    const old = before.lookup(name)
    if (old === undefined) diff.added.push(`${name}=${best(c)}`)
    else if (best(old) !== best(c) || old[0]?.containerId !== c[0]?.containerId) diff.changed.push(`${name}=${best(old)} -> ${best(c)}`)
  }
  for (const [name, c] of before.entries()) if (after.lookup(name) === undefined) diff.removed.push(`${name}=${best(c)}`)
  return diff
}

/** `ip/prefix` with the host bits cleared (172.18.0.5/16 → 172.18.0.0/16); undefined when not an address. */
function networkOf (ip: string, prefix: number): string | undefined {
  const b = addressBytes(ip)
  if (b === undefined || prefix > b.length * 8) return undefined
  for (let bit = prefix; bit < b.length * 8; bit++) b[bit >> 3] = b[bit >> 3]! & ~(0x80 >> (bit & 7))
  if (b.length === 4) return `${[...b].join('.')}/${prefix}`
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16))
  return `${groups.join(':')}/${prefix}`
}
