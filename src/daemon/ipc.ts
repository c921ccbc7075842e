import type { SharedSource } from './backend.js'
import type { Candidate } from '../dns/index.js'
import type { ServingStats } from '../admin/index.js'
import type { MetricsJson } from './backend.js'

export type NameEntries = ReadonlyArray<readonly [string, readonly Candidate[]]>

/** Primary → worker. Requests carry an id and get exactly one `reply`. */
export type ToWorker =
  | { op: 'prepare', id: number, source: string, file: string, shared?: SharedSource, generation: number, names: NameEntries, namesGeneration: number, namesHeld?: boolean, acmeHttp: Array<[string, string]> }
  | { op: 'commit', id: number }
  | { op: 'abort', id: number }
  | { op: 'names', entries: NameEntries, namesGeneration: number, namesHeld?: boolean, generation: number }
  | { op: 'acme-http', id: number, entries: Array<[string, string]> }
  | { op: 'stats', id: number, metrics: boolean }
  | { op: 'reopen-logs' }
  | { op: 'stop', drainMs: number }

/** Worker → primary. */
export type FromWorker =
  | { op: 'hello' }
  | { op: 'reply', id: number, ok: boolean, error?: string, stats?: ServingStats, metrics?: MetricsJson }

const OPS = new Set(['hello', 'reply', 'prepare', 'commit', 'abort', 'names', 'acme-http', 'stats', 'reopen-logs', 'stop'])

/** The IPC channel is shared with node:cluster's internals; only our messages pass. */
export function isPorticoMessage (m: unknown): m is ToWorker | FromWorker {
  return typeof m === 'object' && m !== null && OPS.has((m as { op?: unknown }).op as string)
}
