/** The logger calls the cluster module makes (pino's shape); injected so tests can pass their own. */
export interface ClusterLog {
  info: (obj: object | string, msg?: string) => void
  warn: (obj: object | string, msg?: string) => void
  error: (obj: object | string, msg?: string) => void
  debug: (obj: object | string, msg?: string) => void
}

/** One key's value as read from etcd; `key` is relative to the cluster prefix. */
export interface Entry { key: string, value: Buffer, modRevision: string }

/** What the status page and metrics show. */
export interface ClusterHealth {
  instance: string
  connected: boolean
  /** When `connected` last changed (ISO time). */
  since: string
  lastError: string | null
  lease: string | null
  /** When a mirror last listed or applied a watch event (ISO time; null before the first listing), and at which etcd revision. */
  lastSync: string | null
  revision: string | null
}
