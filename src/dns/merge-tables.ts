import { isIP } from 'node:net'
import { compareRank, nameTableFromEntries, type Candidate, type NameTable } from './registry.js'

/** One other host's published names (see src/cluster/docker-names.ts). */
export interface HostNames {
  host: string
  /** The host's own table is held (its dockerd came back, not resynced yet): its entries are left out. */
  held: boolean
  entries: ReadonlyArray<readonly [string, readonly Candidate[]]>
}

/**
 * The merged view of this host's table and the other hosts' published ones. Candidates keep the
 * local order rule (priority, then primary before maintenance); a tie across hosts goes to this
 * host's container (its address is reachable without crossing hosts), then by host name, then by
 * container id, so every instance breaks it the same way for the other hosts. Names outside the
 * zone are dropped (a host configured with another zone must not add names to ours). The merged
 * table is held only when the local one is.
 */
export function mergeNameTables (generation: number, local: NameTable, localHost: string, others: readonly HostNames[], zone: string | undefined): NameTable {
  const byName = new Map<string, Candidate[]>()
  const add = (name: string, c: Candidate): void => {
    const list = byName.get(name)
    if (list === undefined) byName.set(name, [c]); else list.push(c)
  }
  for (const [name, list] of local.entries()) for (const c of list) add(name, { ...c, host: localHost })
  for (const h of others) {
    if (h.held || h.host === localHost) continue
    for (const [name, list] of h.entries) {
      if (zone !== undefined && name !== zone && !name.endsWith(`.${zone}`)) continue
      for (const c of list) add(name, { ...c, host: h.host })
    }
  }
  const rank = (c: Candidate): number => c.host === localHost ? 0 : 1
  for (const list of byName.values()) {
    list.sort((a, b) => compareRank(a, b) || rank(a) - rank(b) || (a.host ?? '').localeCompare(b.host ?? '') || a.containerId.localeCompare(b.containerId))
  }
  return nameTableFromEntries(generation, [...byName.entries()].sort(([a], [b]) => a.localeCompare(b)), local.held === true)
}

/**
 * A host's published value, checked: JSON `{ held, entries: [[name, [candidate…]]…] }` with DNS
 * names and IP addresses where they belong. Returns the problem instead when it is not that
 * (another version, a stray writer): the host is then left out, never trusted half-way.
 */
export function parseHostNames (host: string, raw: string): HostNames | { problem: string } {
  let v: unknown
  try { v = JSON.parse(raw) } catch (err) { return { problem: `not JSON: ${(err as Error).message}` } }
  if (typeof v !== 'object' || v === null || !Array.isArray((v as { entries?: unknown }).entries)) return { problem: 'no entries list' }
  const entries: Array<[string, Candidate[]]> = []
  for (const e of (v as { entries: unknown[] }).entries) {
    if (!Array.isArray(e) || typeof e[0] !== 'string' || !NAME.test(e[0]) || !Array.isArray(e[1])) return { problem: 'an entry is not [name, candidates]' }
    const list: Candidate[] = []
    for (const c of e[1] as unknown[]) {
      const cand = candidateOf(c)
      if (cand === undefined) return { problem: `a candidate of ${e[0]} is malformed` }
      list.push(cand)
    }
    entries.push([e[0].toLowerCase(), list])
  }
  return { host, held: (v as { held?: unknown }).held === true, entries }
}

const NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/

function candidateOf (c: unknown): Candidate | undefined {
  if (typeof c !== 'object' || c === null) return undefined
  const x = c as Record<string, unknown>
  const ip = (v: unknown, family: 4 | 6): string | undefined | null => v === undefined || v === null ? undefined : typeof v === 'string' && isIP(v) === family ? v : null
  const ipv4 = ip(x.ipv4, 4)
  const ipv6 = ip(x.ipv6, 6)
  if (ipv4 === null || ipv6 === null || (ipv4 === undefined && ipv6 === undefined)) return undefined
  if (typeof x.containerId !== 'string' || typeof x.containerName !== 'string') return undefined
  if (x.role !== 'primary' && x.role !== 'maintenance') return undefined
  if (typeof x.priority !== 'number' || !Number.isInteger(x.priority)) return undefined
  const port = x.port === undefined || x.port === null ? undefined : x.port
  if (port !== undefined && (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)) return undefined
  return { containerId: x.containerId, containerName: x.containerName, ipv4, ipv6, port, role: x.role, priority: x.priority }
}
