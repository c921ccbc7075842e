import { availableParallelism } from 'node:os'

/** `workers: auto` is one worker per CPU this process may use (cgroup/affinity aware). */
export function workerCount (workers: number | 'auto'): number {
  return workers === 'auto' ? Math.max(1, availableParallelism()) : workers
}
