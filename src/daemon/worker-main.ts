import { parseConfigText, loadWithShared, formatProblem, ConfigError } from '../config/index.js'
import { Metrics } from '../admin/index.js'
import { ChallengeBoard } from '../acme/index.js'
import { nameTableFromEntries } from '../dns/index.js'
import type { Logger } from '../log/logger.js'
import { buildSnapshot } from './build-snapshot.js'
import { Serving, type Prepared } from './serving.js'
import { isPorticoMessage, type FromWorker, type ToWorker } from './ipc.js'

/**
 * A worker process (`workers: N`): serves requests from the snapshots the primary announces and
 * nothing else. Exits when told to stop, on SIGTERM/SIGINT, or when the primary goes away.
 */
export async function runWorker (log: Logger): Promise<number> {
  const metrics: Metrics = new Metrics({ connections: (): number => serving.listeners.connections(), certificates: async () => [], docker: () => null, stale: () => false })
  const serving: Serving = new Serving(log, metrics, { reusePort: true })
  const board = new ChallengeBoard()
  const prepared = new Map<number, Prepared>()
  const reply = (m: FromWorker): void => { if (process.connected) process.send?.(m) }

  let stopping: Promise<void> | undefined
  const stop = async (drainMs: number): Promise<void> => {
    stopping ??= serving.stop(drainMs).then(() => log.info('worker stopped'))
    await stopping
  }
  const drainMs = (): number => serving.store.loaded ? serving.store.current.config.shutdown_timeout : 10_000

  const handle = async (m: ToWorker): Promise<void> => {
    switch (m.op) {
      case 'prepare': {
        try {
          const config = m.shared === undefined ? parseConfigText(m.source, m.file) : await loadWithShared(m.source, m.file, m.shared.text, m.shared.name)
          log.level = config.log.level
          board.replaceHttp(m.acmeHttp)
          serving.setNames(nameTableFromEntries(m.namesGeneration, m.names, m.namesHeld), serving.store.loaded ? serving.store.current.generation : m.generation)
          const built = await buildSnapshot(config, serving.dispatchers, serving.names!, token => board.httpToken(token), serving.store.loaded ? serving.store.current.tls : undefined)
          prepared.set(m.id, await serving.prepare({ ...built, snapshot: { ...built.snapshot, generation: m.generation } }))
          reply({ op: 'reply', id: m.id, ok: true })
        } catch (err) {
          reply({ op: 'reply', id: m.id, ok: false, error: err instanceof ConfigError ? err.problems.map(formatProblem).join('; ') : (err as Error).message })
        }
        return
      }
      case 'commit':
        await prepared.get(m.id)?.commit()
        prepared.delete(m.id)
        reply({ op: 'reply', id: m.id, ok: true })
        return
      case 'abort':
        await prepared.get(m.id)?.abort()
        prepared.delete(m.id)
        reply({ op: 'reply', id: m.id, ok: true })
        return
      case 'names':
        serving.setNames(nameTableFromEntries(m.namesGeneration, m.entries, m.namesHeld), m.generation)
        return
      case 'acme-http':
        board.replaceHttp(m.entries)
        reply({ op: 'reply', id: m.id, ok: true })
        return
      case 'stats':
        reply({ op: 'reply', id: m.id, ok: true, stats: serving.stats(), ...(m.metrics ? { metrics: await metrics.registry.getMetricsAsJSON() } : {}) })
        return
      case 'reopen-logs':
        serving.reopenLogs()
        return
      case 'stop':
        await stop(m.drainMs)
        process.exit(0)
    }
  }

  process.on('message', (m: unknown) => {
    if (isPorticoMessage(m)) void handle(m as ToWorker).catch(err => log.error({ err }, 'worker message failed'))
  })
  // Reloads come from the primary; a SIGHUP sent to the whole group must not kill a worker.
  process.on('SIGHUP', () => {})
  process.on('SIGUSR1', () => {})
  reply({ op: 'hello' })
  return await new Promise<number>(resolve => {
    const exit = (why: string): void => {
      log.info({ why }, 'worker stopping')
      void stop(drainMs()).then(() => { resolve(0) })
    }
    process.once('SIGTERM', () => exit('SIGTERM'))
    process.once('SIGINT', () => exit('SIGINT'))
    process.once('disconnect', () => exit('primary gone'))
  })
}
