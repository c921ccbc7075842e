import t from 'tap'
import http from 'node:http'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { httpConfig, startPortico } from '../helpers/portico.js'
import { serve } from '../helpers/upstreams.js'
import { watchRss, MiB } from '../helpers/rss.js'

// 1 GiB each way through the proxy with portico's RSS sampled from /proc: bodies must stream
// (backpressure both ways), never accumulate.
const GIB = 1024 ** 3
const WARM = 256 * 2 ** 20
const CHUNK = Buffer.alloc(256 * 1024, 0x61)

function source (bytes: number): Readable {
  let left = bytes
  return new Readable({
    read () {
      if (left <= 0) { this.push(null); return }
      const n = Math.min(left, CHUNK.length)
      left -= n
      this.push(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))
    }
  })
}

t.test('1 GiB upload and download with bounded memory', async t => {
  const server = http.createServer((req, res) => {
    if (req.method === 'POST') {
      let received = 0
      req.on('data', (d: Buffer) => { received += d.length })
      req.on('end', () => res.end(String(received)))
    } else {
      const bytes = Number((req.url ?? '').split('?')[1])
      res.writeHead(200, { 'content-length': bytes })
      void pipeline(source(bytes), res).catch(() => {})
    }
  })
  const { origin } = await serve(t, server, '127.0.0.9')
  const p = await startPortico({ config: httpConfig(`  - { host: "*", proxy: { upstreams: ["${origin}"] } }`) })
  t.teardown(() => p.stop('SIGKILL'))
  const pid = p.child.pid!
  // Upload: a client that pushes the body as fast as portico takes it.
  const upload = async (bytes: number): Promise<string> => await new Promise<string>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: p.ports.http, method: 'POST', path: '/up', headers: { host: 'big.test', 'content-length': bytes }, agent: false }, res => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve(body))
    })
    req.on('error', reject)
    void pipeline(source(bytes), req).catch(reject)
  })
  // Download: a client that reads the whole body.
  const download = async (bytes: number): Promise<number> => await new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: p.ports.http, path: `/down?${bytes}`, headers: { host: 'big.test' }, agent: false }, res => {
      let n = 0
      res.on('data', (d: Buffer) => { n += d.length })
      res.on('end', () => resolve(n))
      res.on('error', reject)
    }).on('error', reject)
  })
  // Warm-up with 256 MiB each way (JIT, pools, the GC's steady state for short-lived chunk buffers), its peak watched:
  // memory that grew with the body would peak far higher for 1 GiB (4×) than for 256 MiB. The RSS after the warm-up
  // is no baseline (the GC may just have returned memory to the system: its value varies by tens of MiB). Uploads read
  // into a reused buffer and leave little garbage: 128 MiB of download alone did not always reach that steady state.
  const warm = await watchRss(pid)
  t.equal(await upload(WARM), String(WARM))
  t.equal(await download(WARM), WARM)
  const warmed = warm.stop()
  const rss = await watchRss(pid)
  t.equal(await upload(GIB), String(GIB), 'upstream received every byte of 1 GiB')
  t.equal(await download(GIB), GIB, 'client received every byte of 1 GiB')
  const { peak } = rss.stop()
  t.comment(`portico RSS before ${(warmed.baseline / MiB).toFixed(1)} MiB, peak with 256 MiB ${(warmed.peak / MiB).toFixed(1)} MiB, ` +
    `peak with 1 GiB ${(peak / MiB).toFixed(1)} MiB`)
  t.ok(peak - warmed.peak < 48 * MiB, '1 GiB each way peaks within 48 MiB of 256 MiB each way: memory does not grow with the body')
  t.ok(peak - warmed.baseline < 128 * MiB, 'and within 128 MiB of the idle process')
})
