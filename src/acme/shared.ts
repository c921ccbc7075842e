import type { IssuedPair } from './order.js'
export type { IssuedPair }
import type { CertState } from './state-file.js'

/**
 * What the manager needs from a cluster (implemented by src/cluster's certificate store; the
 * manager never sees etcd). Without it the manager runs alone, exactly as before.
 */
export interface SharedStore {
  /**
   * Runs `job` holding the cluster-wide lock for `name` (one order per name at a time); `store`
   * writes the result for every instance only while that lock is still held (fencing). Another
   * instance holding the lock: `{ holder }`, and `job` does not run.
   */
  underLock: <T>(name: string, job: (store: (pair: IssuedPair) => Promise<boolean>) => Promise<T>) => Promise<{ value: T } | { holder: string }>
  /** The certificate the cluster holds for `name` (key decrypted), if any. */
  fetch: (name: string) => Promise<IssuedPair | undefined>
  /** Shares the renewal state (backoff, failures, drawn renewal time) with every instance. */
  saveState: (name: string, state: CertState) => Promise<void>
}
