import t from 'tap'
import http from 'node:http'
import https from 'node:https'
import { createHash, randomBytes } from 'node:crypto'
import { startPortico, tlsConfig } from '../helpers/portico.js'
import { serve } from '../helpers/upstreams.js'

// The engine reads upstream bytes into a buffer it reuses from read to read (onread). A write
// to a client that stopped reading stays queued and still points into that buffer: the next
// read must go elsewhere, or the client gets later bytes in place of earlier ones. Random
// bodies, hashed end to end.
const MiB = 1024 * 1024
const BIG = randomBytes(48 * MiB)
// Loopback TCP buffers take tens of MiB before a write stays queued (tcp_rmem's maximum is
// often 32 MiB): the dribbled body is larger than that, and the client waits for most of it.
const STALL_UNTIL = 44 * MiB
const SMALL = BIG.subarray(0, 8 * MiB)
const digest = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const EXPECTED: Record<string, string> = { '/dribble': digest(BIG), '/length': digest(SMALL), '/chunked': digest(SMALL), '/close': digest(SMALL) }

t.test('bodies arrive intact at clients that stop reading (Content-Length, chunked, close-delimited; plain and TLS)', async t => {
  let dribbled = 0
  const server = http.createServer((req, res) => {
    if (req.url === '/dribble') {
      // 4 KiB writes, one per turn of the event loop: portico reads small pieces, which it must
      // queue behind the stalled client once the kernel's buffers are full.
      res.writeHead(200, { 'content-length': BIG.length })
      dribbled = 0
      const next = (): void => {
        if (dribbled >= BIG.length) { res.end(); return }
        res.write(BIG.subarray(dribbled, dribbled += 4096))
        setImmediate(next)
      }
      next()
      return
    }
    if (req.url === '/chunked') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      // Chunks of varied sizes (framing bytes interleaved with the data in the read buffer).
      let at = 0
      let n = 1
      while (at < SMALL.length) { const k = Math.min(SMALL.length - at, 1000 + (n++ * 7919) % 90000); res.write(SMALL.subarray(at, at + k)); at += k }
      res.end()
      return
    }
    if (req.url === '/close') res.shouldKeepAlive = false
    res.writeHead(200, req.url === '/close' ? { connection: 'close' } : { 'content-length': SMALL.length })
    res.end(SMALL)
  })
  const { origin } = await serve(t, server, '127.0.0.9')
  const p = await startPortico({ config: tlsConfig(['big.test'], `  - { host: "*", proxy: { upstreams: ["${origin}"] } }`) })
  t.teardown(() => p.stop('SIGKILL'))

  // /dribble: reads nothing until the upstream sent STALL_UNTIL bytes (at most 10 s); the others
  // stall 10 ms after every 256 KiB.
  const get = async (path: string, secure: boolean): Promise<{ status: number, length: number, digest: string }> => await new Promise((resolve, reject) => {
    const opts = { host: '127.0.0.1', path, headers: { host: 'big.test' }, agent: false as const }
    const onResponse = (res: http.IncomingMessage): void => {
      const hash = createHash('sha256')
      let length = 0
      let sinceStall = 0
      res.on('data', (d: Buffer) => {
        hash.update(d)
        length += d.length
        sinceStall += d.length
        if (path !== '/dribble' && sinceStall >= 256 * 1024) { sinceStall = 0; res.pause(); setTimeout(() => res.resume(), 10) }
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, length, digest: hash.digest('hex') }))
      res.on('error', reject)
      if (path !== '/dribble') return
      res.pause()
      const since = Date.now()
      const wait = setInterval(() => {
        if (dribbled < STALL_UNTIL && Date.now() - since < 10_000) return
        clearInterval(wait)
        res.resume()
      }, 20)
    }
    const req = secure
      ? https.get({ ...opts, port: p.ports.https, servername: 'big.test', rejectUnauthorized: false }, onResponse)
      : http.get({ ...opts, port: p.ports.http }, onResponse)
    req.on('error', reject)
  })
  for (const secure of [false, true]) {
    for (const path of ['/dribble', '/length', '/chunked', '/close']) {
      const name = `${secure ? 'TLS' : 'plain'} ${path}`
      const r = await get(path, secure)
      t.equal(r.status, 200, `${name}: status`)
      t.equal(r.length, path === '/dribble' ? BIG.length : SMALL.length, `${name}: every byte`)
      t.equal(r.digest, EXPECTED[path], `${name}: the same bytes in the same order`)
    }
  }
})
