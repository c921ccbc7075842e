import { readFile } from 'node:fs/promises'

/** Resident set size of a process, from /proc. */
export async function rssOf (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
}

/** Samples a process's RSS every 50 ms from now on; `stop` returns the growth over the start. */
export async function watchRss (pid: number): Promise<{ stop: () => { baseline: number, peak: number, growth: number } }> {
  const baseline = await rssOf(pid)
  let peak = baseline
  const timer = setInterval(() => { void rssOf(pid).then(r => { peak = Math.max(peak, r) }).catch(() => {}) }, 50)
  return {
    stop: () => {
      clearInterval(timer)
      return { baseline, peak, growth: peak - baseline }
    }
  }
}

export const MiB = 2 ** 20
