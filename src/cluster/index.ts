import { hostname } from 'node:os'
import type { ClusterConfig } from '../config/index.js'
import { VERSION } from '../version.js'
import { Cluster } from './cluster.js'
import { etcdClient } from './connect.js'
import type { ClusterLog } from './types.js'

/**
 * Clustering on etcd v3 (issue 23). The whole API other modules use:
 *
 * - `openCluster(config, log)` → a `Cluster`: connects (reconnecting forever), keeps the instance
 *   lease alive (granted anew, with backoff, whenever lost) and publishes `members/<name>` under it.
 * - `cluster.get/list/put/delete(key)`: plain reads and writes; keys are relative to `cluster.prefix`.
 * - `cluster.publish(key, value)` / `unpublish(key)`: a key that lives under the instance lease
 *   (gone when the instance dies, put again under every new lease).
 * - `cluster.tryLock(name)` → `{ lock }` or `{ holder }`: a lease-held lock at `locks/<name>`;
 *   `lock.put(absoluteKey, value)` writes only while the lock is still held (fencing: a transaction
 *   comparing the lock key's create revision), `lock.release()`.
 * - `cluster.mirror(prefix, listener)`: a live map of the keys under a prefix (list + watch that
 *   resumes from the last revision; lists again after a compaction).
 * - `cluster.health()`: connected or not since when, the last error, the lease (status and metrics).
 * - `cluster.close()`: revokes the lease (its keys and locks go at once) and closes the client.
 *
 * Key layout under the prefix: `members/<instance>`, `locks/<name>`; see docs/CLUSTER.md.
 */
export { Cluster } from './cluster.js'
export type { ClusterOptions } from './cluster.js'
export { Lock } from './lock.js'
export type { LockAttempt } from './lock.js'
export { Mirror } from './mirror.js'
export type { MirrorListener } from './mirror.js'
export { Backoff } from './backoff.js'
export type { ClusterHealth, ClusterLog, Entry } from './types.js'

/** The instance name: `cluster.name`, else the host name (cut to the allowed characters). */
export function instanceName (c: ClusterConfig): string {
  return c.name ?? (hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64) || 'portico')
}

/** A client of the cluster that does not announce itself (the CLI's `certs import`). */
export async function connectCluster (c: ClusterConfig, log: ClusterLog): Promise<Cluster> {
  return new Cluster(await etcdClient(c), { name: instanceName(c), prefix: c.prefix, leaseTtlMs: c.lease_ttl, log })
}

export async function openCluster (c: ClusterConfig, log: ClusterLog): Promise<Cluster> {
  const cluster = await connectCluster(c, log)
  const name = cluster.name
  await cluster.publish(`members/${name}`, JSON.stringify({ version: VERSION, pid: process.pid, started: new Date().toISOString() }))
  log.info({ instance: name, endpoints: c.endpoints, prefix: c.prefix }, 'cluster: joined')
  return cluster
}
export { ClusterCertificates } from './certificates.js'
export type { CertificateSink } from './certificates.js'
export { shareChallenges } from './challenges.js'
export { SecretBox, readSecretBox, parseSecret } from './secret.js'
export { ClusterNames } from './docker-names.js'
