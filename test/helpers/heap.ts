import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Portico } from './portico.js'
import { until } from './wait.js'

/**
 * Node options that let a test force a full GC in portico from outside: a heap snapshot (on
 * SIGUSR2, written into `dir`) collects garbage first. The only honest retained-memory figure
 * (RSS keeps V8's grown heap; heapUsed counts garbage not collected yet).
 */
export const heapProbeEnv = (dir: string): NodeJS.ProcessEnv => ({ NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}` })

/** JS heap in use right after a full GC (needs `heapProbeEnv` and an admin listener). */
export async function heapAfterGc (p: Portico, dir: string): Promise<number> {
  const count = async (): Promise<string[]> => (await readdir(dir)).filter(f => f.endsWith('.heapsnapshot'))
  const before = (await count()).length
  p.child.kill('SIGUSR2')
  await until('heap snapshot written', async () => (await count()).length > before ? true : undefined, 60_000, 200)
  const used = await until('heap figure after the snapshot', async () => {
    const m = await (await fetch(`${p.adminUrl}/metrics`)).text()
    return Number(/^portico_nodejs_heap_size_used_bytes (\d+)/m.exec(m)?.[1]) || undefined
  })
  for (const f of await count()) await rm(join(dir, f), { force: true })
  return used
}
