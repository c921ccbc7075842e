import t from 'tap'
import http from 'node:http'
import { once } from 'node:events'
import { WebSocket } from 'ws'
import { appAndEcho } from '../helpers/upstreams.js'
import { httpConfig, makeTempDir, startPortico } from '../helpers/portico.js'
import { heapAfterGc, heapProbeEnv } from '../helpers/heap.js'
import { rssOf, MiB } from '../helpers/rss.js'
import { figure, scaled } from '../helpers/figures.js'
import { slope } from '../helpers/trend.js'
import { shippedNodeOptions } from '../helpers/node-flags.js'

/**
 * Soak: a fixed number of mixed operations (small responses, 64 KiB downloads, websocket
 * round trips) with portico's RSS, V8 heap and active handles sampled along the way. After a
 * warm-up run:
 * - the JS heap after a forced full GC must not grow (retained JS objects);
 * - RSS minus V8's committed heap ("native": buffers, sockets, malloc) must have no growth trend;
 * - the handles must come back to where the warm-up left them.
 * RSS itself is reported, not asserted: V8 grows its young generation to its ceiling (shipped:
 * 16 MiB semi-spaces, 32 MiB committed; Node's default on a large machine is 64/128) after each
 * full GC and keeps it, which reads as an RSS slope in a short run.
 * `npm run test:reliability` sets PORTICO_SOAK_OPERATIONS (2 million); `npm test` runs 40k.
 */
const WARMUP = 40_000
const OPERATIONS = Number(process.env.PORTICO_SOAK_OPERATIONS ?? 0) || scaled(40_000)
const SAMPLES = 40
const CONCURRENCY = 16
/** Native growth allowed: an allocator's noise plus a per-operation bound (100 bytes/op would be 10 MiB per 100k). */
const NATIVE_NOISE_MiB = 8
const NATIVE_MiB_PER_100K = 2

interface Sample { at: number, rss: number, v8: number, young: number }

t.test(`soak: ${OPERATIONS} mixed operations, RSS and handles sampled`, async t => {
  const big = Buffer.alloc(64 * 1024, 'b')
  const { appPort, wsPort } = await appAndEcho(t, (req, res) => { req.resume(); res.end(req.url === '/big' ? big : 'small') })
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const p = await startPortico({
    dir,
    // As shipped (the unit's young-generation cap) plus the heap probe.
    env: { NODE_OPTIONS: `${shippedNodeOptions()} ${heapProbeEnv(dir).NODE_OPTIONS ?? ''}` },
    config: httpConfig(`  - name: ws
    path: /ws
    proxy: { upstreams: ["http://127.0.0.1:${wsPort}"] }
  - name: app
    proxy: { upstreams: ["http://127.0.0.1:${appPort}"] }`).replace('admin: null', 'admin: { address: "127.0.0.1:0" }')
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.http!
  const metric = (text: string, name: string): number => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1])
  const metrics = async (): Promise<string> => await (await fetch(`${p.adminUrl}/metrics`)).text()
  const handles = async (): Promise<number> => metric(await metrics(), 'portico_nodejs_active_handles_total')
  const sample = async (at: number): Promise<Sample> => {
    const [rss, text] = await Promise.all([rssOf(p.child.pid!), metrics()])
    return { at, rss, v8: metric(text, 'portico_nodejs_heap_size_total_bytes'), young: metric(text, 'portico_nodejs_heap_space_size_total_bytes\\{space="new"\\}') }
  }
  const echo = async (ws: WebSocket): Promise<boolean> => await new Promise(resolve => {
    ws.once('message', () => resolve(true))
    ws.send('x')
  })
  const openWs = async (): Promise<WebSocket> => { const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host: 'a.test' } }); await once(ws, 'open'); return ws }

  /** `count` operations from CONCURRENCY clients; memory sampled when `samples` is given. */
  const phase = async (count: number, samples?: Sample[]): Promise<{ failures: number, seconds: number }> => {
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
        if (samples !== undefined && i % every === 0) samples.push(await sample(i))
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
  // RSS as an operator sees it: the heap probe's snapshot leaves malloc'd memory behind it.
  const rssWarm = await rssOf(p.child.pid!)
  const heap0 = await heapAfterGc(p, dir)
  const samples: Sample[] = []
  const { failures, seconds } = await phase(OPERATIONS, samples)
  const finalHandles = await settledHandles(baselineHandles)
  const heap1 = await heapAfterGc(p, dir)

  samples.sort((a, b) => a.at - b.at)
  const per100k = (ys: Sample[], y: (s: Sample) => number): number => slope(ys.map(s => ({ x: s.at, y: y(s) }))) * 100_000 / MiB
  const native = (s: Sample): number => s.rss - s.v8
  const rssSlope = per100k(samples, s => s.rss)
  const rssSlopeLateHalf = per100k(samples.slice(Math.floor(samples.length / 2)), s => s.rss)
  const nativeSlope = per100k(samples, native)
  // Growth in absolute terms too, from the means of the first and last quarters (robust to one noisy sample).
  const quarter = Math.max(1, Math.floor(samples.length / 4))
  const mean = (xs: Sample[], y: (s: Sample) => number): number => xs.reduce((a, s) => a + y(s), 0) / xs.length / MiB
  const nativeGrowth = mean(samples.slice(-quarter), native) - mean(samples.slice(0, quarter), native)
  const nativeBound = NATIVE_NOISE_MiB + NATIVE_MiB_PER_100K * OPERATIONS / 100_000
  const heapGrowth = (heap1 - heap0) / MiB
  const first = samples[0]!
  const last = samples.at(-1)!
  const mib = (n: number): string => (n / MiB).toFixed(0)
  const memory = `RSS after warm-up ${mib(rssWarm)} MiB, after the first heap probe ${mib(first.rss)}→${mib(last.rss)} MiB (slope ${rssSlope.toFixed(2)} MiB/100k ops, second half ${rssSlopeLateHalf.toFixed(2)}); ` +
    `V8 heap committed ${mib(first.v8)}→${mib(last.v8)} MiB of which young generation ${mib(first.young)}→${mib(last.young)} MiB; ` +
    `native (RSS − V8 heap) ${mib(native(first))}→${mib(native(last))} MiB, slope ${nativeSlope.toFixed(2)} MiB/100k ops, growth ${nativeGrowth.toFixed(1)} MiB`
  t.comment(`${WARMUP} warm-up operations, then ${OPERATIONS} measured in ${seconds.toFixed(1)} s; JS heap after full GCs ${(heap0 / MiB).toFixed(1)} → ${(heap1 / MiB).toFixed(1)} MiB; ${memory}; handles ${baselineHandles} → ${finalHandles}`)
  t.equal(warm.failures + failures, 0, 'no operation failed')
  t.ok(heapGrowth < 16, `JS heap after full GCs: ${(heap0 / MiB).toFixed(1)} → ${(heap1 / MiB).toFixed(1)} MiB over ${OPERATIONS} operations (< 16 MiB growth)`)
  t.ok(nativeGrowth < nativeBound, `memory outside the V8 heap grew ${nativeGrowth.toFixed(1)} MiB over ${OPERATIONS} operations (< ${nativeBound.toFixed(0)} MiB)`)
  t.ok(finalHandles <= baselineHandles, `active handles back to the post-warm-up level (${baselineHandles} → ${finalHandles})`)
  figure({
    case: 'soak',
    tried: `after ${WARMUP} warm-up operations: 70 % small GET, 20 % 64 KiB GET, 10 % websocket round trips (a new tunnel every 1000), 16 concurrent; ${SAMPLES} samples of RSS (/proc) and V8 heap (/metrics)`,
    count: OPERATIONS,
    result: `${failures} failed; JS heap after full GCs ${(heap0 / MiB).toFixed(1)} → ${(heap1 / MiB).toFixed(1)} MiB; ${memory}; handles ${baselineHandles}→${finalHandles}; ${(OPERATIONS / seconds).toFixed(0)} ops/s`
  })
})
