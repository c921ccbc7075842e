import t from 'tap'
import http from 'node:http'
import { once } from 'node:events'
import { WebSocket } from 'ws'
import { appAndEcho } from '../helpers/upstreams.js'
import { httpConfig, makeTempDir, startPortico } from '../helpers/portico.js'
import { heapAfterGc, heapProbeEnv } from '../helpers/heap.js'
import { rssOf, MiB } from '../helpers/rss.js'
import { figure, scaled } from '../helpers/figures.js'

/**
 * Soak: a fixed number of mixed operations (small responses, 64 KiB downloads, websocket
 * round trips) with portico's RSS and active handles sampled along the way. After a warm-up
 * run, the JS heap after a forced full GC must not grow and the handles must come back to where
 * the warm-up left them; the RSS slope is reported (RSS keeps V8's grown heap, so it is a
 * figure, not the leak test).
 */
const WARMUP = 40_000
const OPERATIONS = scaled(40_000)
const SAMPLES = 30
const CONCURRENCY = 16

t.test(`soak: ${OPERATIONS} mixed operations, RSS and handles sampled`, async t => {
  const big = Buffer.alloc(64 * 1024, 'b')
  const { appPort, wsPort } = await appAndEcho(t, (req, res) => { req.resume(); res.end(req.url === '/big' ? big : 'small') })
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const p = await startPortico({
    dir,
    env: heapProbeEnv(dir),
    config: httpConfig(`  - name: ws
    path: /ws
    proxy: { upstreams: ["http://127.0.0.1:${wsPort}"] }
  - name: app
    proxy: { upstreams: ["http://127.0.0.1:${appPort}"] }`).replace('admin: null', 'admin: { address: "127.0.0.1:0" }')
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.http!
  const handles = async (): Promise<number> => Number(/^portico_nodejs_active_handles_total (\d+)/m.exec(await (await fetch(`${p.adminUrl}/metrics`)).text())?.[1])
  const echo = async (ws: WebSocket): Promise<boolean> => await new Promise(resolve => {
    ws.once('message', () => resolve(true))
    ws.send('x')
  })
  const openWs = async (): Promise<WebSocket> => { const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host: 'a.test' } }); await once(ws, 'open'); return ws }

  /** `count` operations from CONCURRENCY clients; RSS sampled when `samples` is given. */
  const phase = async (count: number, samples?: Array<{ at: number, rss: number }>): Promise<{ failures: number, seconds: number }> => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
    const longLived = await Promise.all(Array.from({ length: 4 }, openWs))
    const get = async (path: string): Promise<number> => await new Promise(resolve => {
      const req = http.get({ host: '127.0.0.1', port, path, headers: { host: 'a.test' }, agent }, res => {
        let n = 0
        res.on('data', (d: Buffer) => { n += d.length })
        res.on('end', () => resolve(res.statusCode === 200 ? n : -1))
      })
      req.on('error', () => resolve(-1))
    })
    let done = 0
    let failures = 0
    const every = Math.max(1, Math.floor(count / SAMPLES))
    const worker = async (w: number): Promise<void> => {
      while (done < count) {
        const i = done++
        const kind = i % 10
        if (kind < 7) { if (await get('/') !== 5) failures++ } else if (kind < 9) { if (await get('/big') !== big.length) failures++ } else if (i % 1000 === 9) {
          const ws = await openWs().catch(() => undefined)
          if (ws === undefined || !await echo(ws)) failures++
          ws?.close()
        } else if (!await echo(longLived[w % longLived.length]!)) failures++
        if (samples !== undefined && i % every === 0) samples.push({ at: i, rss: await rssOf(p.child.pid!) })
      }
    }
    const started = Date.now()
    await Promise.all(Array.from({ length: CONCURRENCY }, async (_, w) => await worker(w)))
    const seconds = (Date.now() - started) / 1000
    for (const ws of longLived) ws.close()
    agent.destroy()
    return { failures, seconds }
  }
  /** Active handles once the clients are gone (bounded wait for the closes to land). */
  const settledHandles = async (atMost: number): Promise<number> => {
    let h = await handles()
    for (let i = 0; i < 50 && h > atMost; i++) {
      await new Promise(resolve => setTimeout(resolve, 100))
      h = await handles()
    }
    return h
  }

  // Warm-up: V8 grows its heap to a working size and the upstream pools fill; not measured.
  const warm = await phase(WARMUP)
  const baselineHandles = await settledHandles(0)
  const heap0 = await heapAfterGc(p, dir)
  const samples: Array<{ at: number, rss: number }> = []
  const { failures, seconds } = await phase(OPERATIONS, samples)

  // Least-squares slope of RSS over operations.
  const steady = samples.sort((a, b) => a.at - b.at)
  const mx = steady.reduce((s, x) => s + x.at, 0) / steady.length
  const my = steady.reduce((s, x) => s + x.rss, 0) / steady.length
  const slope = steady.reduce((s, x) => s + (x.at - mx) * (x.rss - my), 0) / steady.reduce((s, x) => s + (x.at - mx) ** 2, 0)
  const per100k = slope * 100_000 / MiB
  const finalHandles = await settledHandles(baselineHandles)
  const heap1 = await heapAfterGc(p, dir)
  const heapGrowth = (heap1 - heap0) / MiB
  const rssMiB = steady.map(s => (s.rss / MiB).toFixed(0))
  t.comment(`JS heap after full GCs ${(heap0 / MiB).toFixed(1)} → ${(heap1 / MiB).toFixed(1)} MiB; ${WARMUP} warm-up operations, then ${OPERATIONS} measured in ${seconds.toFixed(1)} s; RSS after warm-up ${rssMiB[0] ?? '?'}…${rssMiB.at(-1) ?? '?'} MiB; slope ${per100k.toFixed(2)} MiB per 100k operations; handles ${baselineHandles} → ${finalHandles}`)
  t.equal(warm.failures + failures, 0, 'no operation failed')
  // Retention is judged on the JS heap after a forced full GC: RSS keeps whatever V8 grew to.
  t.ok(heapGrowth < 16, `JS heap after full GCs: ${(heap0 / MiB).toFixed(1)} → ${(heap1 / MiB).toFixed(1)} MiB over ${OPERATIONS} operations (< 16 MiB growth)`)
  t.ok(finalHandles <= baselineHandles, `active handles back to the post-warm-up level (${baselineHandles} → ${finalHandles})`)
  figure({
    case: 'soak',
    tried: `after ${WARMUP} warm-up operations: 70 % small GET, 20 % 64 KiB GET, 10 % websocket round trips (a new tunnel every 1000), 16 concurrent`,
    count: OPERATIONS,
    result: `${failures} failed; JS heap after full GCs ${(heap0 / MiB).toFixed(1)} → ${(heap1 / MiB).toFixed(1)} MiB; RSS slope after warm-up ${per100k.toFixed(2)} MiB/100k ops (${rssMiB[0] ?? '?'}→${rssMiB.at(-1) ?? '?'} MiB); handles ${baselineHandles}→${finalHandles}; ${(OPERATIONS / seconds).toFixed(0)} ops/s`
  })
})
