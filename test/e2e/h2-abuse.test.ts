import t from 'tap'
import tls from 'node:tls'
import { once } from 'node:events'
import { makeTempDir, startPortico, testConfig } from '../helpers/portico.js'
import { httpUpstream } from '../helpers/upstreams.js'
import { heapAfterGc, heapProbeEnv } from '../helpers/heap.js'
import { send } from '../helpers/http.js'
import { rssOf, MiB } from '../helpers/rss.js'
import { figure } from '../helpers/figures.js'

/**
 * HTTP/2 abuse over raw frames: rapid reset (HEADERS immediately cancelled by RST_STREAM, the
 * CVE-2023-44487 pattern) and a SETTINGS flood, several rounds. portico must stay up, close
 * the connections, forward a bounded number of streams, retain nothing, and keep serving others.
 */
const frame = (type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer => {
  const h = Buffer.alloc(9)
  h.writeUIntBE(payload.length, 0, 3)
  h[3] = type
  h[4] = flags
  h.writeUInt32BE(stream & 0x7fffffff, 5)
  return Buffer.concat([h, payload])
}
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
// HPACK: :method GET (2), :scheme https (7), :path / (4), :authority literal without indexing.
const HEADERS_BLOCK = Buffer.concat([Buffer.from([0x82, 0x87, 0x84, 0x01, 6]), Buffer.from('a.test')])
const CANCEL = Buffer.from([0, 0, 0, 8])

async function h2Socket (port: number): Promise<{ s: tls.TLSSocket, closed: Promise<number> }> {
  const s = tls.connect({ host: '127.0.0.1', port, servername: 'a.test', ALPNProtocols: ['h2'], rejectUnauthorized: false })
  await once(s, 'secureConnect')
  if (s.alpnProtocol !== 'h2') throw new Error(`ALPN gave ${String(s.alpnProtocol)}`)
  s.on('error', () => {})
  s.resume()
  const started = Date.now()
  const closed = new Promise<number>(resolve => s.once('close', () => resolve(Date.now() - started)))
  s.write(Buffer.concat([PREFACE, frame(0x4, 0, 0)]))
  return { s, closed }
}

t.test('HTTP/2 rapid reset and SETTINGS flood are bounded', async t => {
  let forwarded = 0
  const app = await httpUpstream(t, (req, res) => { forwarded++; req.resume(); res.end('app') })
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const p = await startPortico({
    dir,
    env: heapProbeEnv(dir),
    config: testConfig({
      admin: true,
      listeners: [{ name: 'https', tls: true }],
      selfSigned: ['a.test'],
      routes: `  - { name: app, proxy: { upstreams: ["${app.origin}"] } }`
    })
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.https!
  const rss0 = await rssOf(p.child.pid!)

  const STREAMS = 20_000
  const ROUNDS = 8
  /** One rapid-reset connection and one SETTINGS-flood connection; how long until portico closed each. */
  const round = async (): Promise<{ resetMs: number, floodMs: number }> => {
    const reset = await h2Socket(port)
    const burst: Buffer[] = []
    for (let i = 0; i < STREAMS; i++) {
      const id = 1 + 2 * i
      burst.push(frame(0x1, 0x5, id, HEADERS_BLOCK), frame(0x3, 0, id, CANCEL))
      if (burst.length >= 2000 && !reset.s.destroyed) reset.s.write(Buffer.concat(burst.splice(0)))
    }
    if (!reset.s.destroyed) reset.s.write(Buffer.concat(burst))
    const resetMs = await Promise.race([reset.closed, new Promise<number>(resolve => setTimeout(() => resolve(-1), 10_000))])
    reset.s.destroy()
    const flood = await h2Socket(port)
    if (!flood.s.destroyed) flood.s.write(Buffer.concat(Array.from({ length: 50_000 }, () => frame(0x4, 0, 0))))
    const floodMs = await Promise.race([flood.closed, new Promise<number>(resolve => setTimeout(() => resolve(-1), 10_000))])
    flood.s.destroy()
    return { resetMs, floodMs }
  }
  const rounds: Array<{ resetMs: number, floodMs: number, forwarded: number, rss: number }> = []
  for (let i = 0; i < ROUNDS; i++) {
    const before = forwarded
    const r = await round()
    rounds.push({ ...r, forwarded: forwarded - before, rss: await rssOf(p.child.pid!) })
  }
  const last = rounds.at(-1)!
  t.comment(rounds.map((r, i) => `round ${i + 1}: rapid reset closed after ${r.resetMs} ms with ${r.forwarded} of ${STREAMS} streams forwarded; SETTINGS flood closed after ${r.floodMs} ms; RSS ${(r.rss / MiB).toFixed(0)} MiB`).join('\n') + `\n(RSS before: ${(rss0 / MiB).toFixed(0)} MiB)`)
  t.equal(p.child.exitCode, null, 'portico is still running')
  t.ok(rounds.every(r => r.resetMs >= 0), 'every rapid-reset connection is closed by portico (GOAWAY), not served to the end')
  t.ok(rounds.every(r => r.forwarded < STREAMS / 10), `only a bounded part of the cancelled streams reached the upstream (${rounds.map(r => r.forwarded).join(', ')} of ${STREAMS})`)
  t.ok(rounds.every(r => r.floodMs >= 0), 'every SETTINGS flood connection is closed by portico')
  const heapAfter = await heapAfterGc(p, dir)
  t.ok(heapAfter < 64 * MiB, `nothing retained: JS heap after a full GC ${(heapAfter / MiB).toFixed(0)} MiB (< 64)`)
  const ok = await send(port, 'a.test', { tls: true })
  t.equal(ok.status, 200, 'other clients are served')
  figure({ case: 'HTTP/2 rapid reset, SETTINGS flood', tried: `${ROUNDS} rounds of: ${STREAMS} HEADERS each cancelled at once by RST_STREAM on one connection, 50 000 SETTINGS frames on another`, count: ROUNDS * (STREAMS + 50_000), result: `closed by portico after ${rounds.map(r => r.resetMs).join('/')} ms and ${rounds.map(r => r.floodMs).join('/')} ms; ${rounds.map(r => r.forwarded).join('/')} of ${STREAMS} streams reached the upstream; RSS ${(rss0 / MiB).toFixed(0)} → ${(last.rss / MiB).toFixed(0)} MiB (high-water), JS heap after a full GC ${(heapAfter / MiB).toFixed(0)} MiB; others served` })
})
