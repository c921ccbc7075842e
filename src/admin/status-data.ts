import type { AccessEntry } from '../router/index.js'
import type { Snapshot } from '../snapshot/index.js'
import type { ClusterState, StatusData, UpstreamStatus } from './status-page.js'

/** What one serving process reports (the daemon's own, or each worker's). */
export interface ServingStats {
  pid: number
  generation: number | null
  listeners: Array<{ name: string, address: string, port: number }>
  connections: number
  inflight: number
  hits: Record<string, number>
  recentErrors: AccessEntry[]
  /** Pool members (load balancing, health checks); absent from processes that serve nothing. */
  upstreams?: UpstreamStatus[]
}

export type ReloadRecord = { at: string, ok: boolean, errors?: string[] }
export type CertificateRow = StatusData['certificates'][number] & { failures?: number }
export type DockerState = NonNullable<StatusData['docker']> & { reconnects: number, containers: number }

/** Everything the readiness answer and the status page are made from, gathered by the daemon. */
export interface DaemonFacts {
  version: string
  startedAt: string
  stopping: boolean
  snapshot: Snapshot | undefined
  serving: ServingStats[]
  /** With `workers: N`: the configured count and respawns since start. */
  workers: { configured: number, respawns: number } | undefined
  lastReload: ReloadRecord | null
  /** Set while serving a last-known-good copy because the file was invalid at start. */
  stale: string | undefined
  docker: DockerState | null
  certificates: () => Promise<CertificateRow[]>
  /** With `cluster`: its health; null (or absent) without. */
  cluster?: ClusterState | null
}

/** One view over several serving processes: counts summed, listeners as the first reports them. */
export function mergeStats (all: readonly ServingStats[]): Omit<ServingStats, 'pid' | 'generation'> {
  const hits: Record<string, number> = {}
  for (const s of all) for (const [route, n] of Object.entries(s.hits)) hits[route] = (hits[route] ?? 0) + n
  return {
    listeners: all[0]?.listeners ?? [],
    connections: all.reduce((n, s) => n + s.connections, 0),
    inflight: all.reduce((n, s) => n + s.inflight, 0),
    hits,
    recentErrors: all.flatMap(s => s.recentErrors).slice(0, 20)
  }
}

/**
 * `/readyz`: ready while a snapshot serves (with workers: while one worker serves it). A start
 * from the last-known-good copy is ready but `degraded`, with the reason; so is an instance that
 * lost etcd (it serves its last view: taking it out of a load balancer would not help).
 */
export function readiness (f: DaemonFacts): { ready: boolean, status: string, detail: Record<string, unknown> } {
  const serving = mergeStats(f.serving)
  const ready = f.snapshot !== undefined && !f.stopping && (f.workers === undefined || f.serving.some(s => s.generation !== null))
  const degraded = [
    ...(f.stale === undefined ? [] : [f.stale]),
    ...(f.cluster == null || f.cluster.connected ? [] : [`cluster: etcd unreachable since ${f.cluster.since}: ${f.cluster.lastError ?? ''}`])
  ]
  const running = f.serving.map(s => ({ pid: s.pid, generation: s.generation, inflight: s.inflight, requests: Object.values(s.hits).reduce((a, b) => a + b, 0) }))
  return {
    ready,
    status: !ready ? 'not ready' : degraded.length > 0 ? 'degraded' : 'ready',
    detail: {
      ...(degraded.length === 0 ? {} : { degraded }),
      generation: f.snapshot?.generation ?? null,
      listeners: serving.listeners,
      last_reload: f.lastReload,
      inflight: serving.inflight,
      docker: f.docker,
      ...(f.cluster == null ? {} : { cluster: f.cluster }),
      ...(f.workers === undefined ? {} : { workers: { configured: f.workers.configured, running, respawns: f.workers.respawns } })
    }
  }
}

/** The status page's data. */
export async function statusData (f: DaemonFacts): Promise<StatusData> {
  const serving = mergeStats(f.serving)
  const s = f.snapshot
  return {
    version: f.version,
    generation: s?.generation ?? 0,
    startedAt: f.startedAt,
    lastReload: f.lastReload,
    stale: f.stale ?? null,
    listeners: serving.listeners,
    routes: (s?.routes.routes ?? []).map(r => ({ name: r.name, action: r.action.kind, hits: serving.hits[r.name] ?? 0 })),
    certificates: await f.certificates(),
    docker: f.docker,
    names: (s?.names.entries() ?? []).map(([name, c]) => ({ name, candidates: c.map(x => ({ containerName: x.containerName, role: x.role, ipv4: x.ipv4, host: x.host })) })),
    cluster: f.cluster ?? null,
    recentErrors: serving.recentErrors,
    // With workers each process checks on its own: every process's view, labelled by pid.
    upstreams: f.serving.flatMap(s => (s.upstreams ?? []).map(u => ({ ...u, ...(f.serving.length > 1 ? { pid: s.pid } : {}) })))
  }
}
