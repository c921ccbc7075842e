import t from 'tap'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
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

// The engine reads client sockets into a buffer of the connection's own too (client-reads.ts): a
// body write to an upstream that stopped reading stays queued and points into it, and so does a
// body that waits for its upstream connection or a pipelined request stashed behind a response.
t.test('request bodies arrive intact at upstreams that stop reading (Content-Length, chunked, pipelined)', async t => {
  const server = http.createServer((req, res) => {
    const hash = createHash('sha256')
    let length = 0
    req.on('data', (d: Buffer) => { hash.update(d); length += d.length })
    req.on('end', () => res.end(`${length} ${hash.digest('hex')}`))
    // Reads nothing for a while: portico's writes queue behind the full socket buffers.
    if (req.url === '/stall') { req.pause(); setTimeout(() => req.resume(), 1500) }
  })
  const { origin } = await serve(t, server, '127.0.0.9')
  const p = await startPortico({ config: tlsConfig(['big.test'], `  - { host: "*", proxy: { upstreams: ["${origin}"] } }`) })
  t.teardown(() => p.stop('SIGKILL'))
  const post = async (path: string, chunked: boolean, secure: boolean): Promise<string> => await new Promise((resolve, reject) => {
    const opts = { host: '127.0.0.1', method: 'POST', path, agent: false as const, headers: chunked ? { host: 'big.test' } : { host: 'big.test', 'content-length': BIG.length } }
    const onResponse = (res: http.IncomingMessage): void => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve(body))
    }
    const req = secure
      ? https.request({ ...opts, port: p.ports.https, servername: 'big.test', rejectUnauthorized: false }, onResponse)
      : http.request({ ...opts, port: p.ports.http }, onResponse)
    req.on('error', reject)
    // Pieces of varied sizes (chunked: each its own chunk, framing interleaved with the data).
    let at = 0
    let n = 1
    while (at < BIG.length) { const k = Math.min(BIG.length - at, 1000 + (n++ * 7919) % 200000); req.write(BIG.subarray(at, at + k)); at += k }
    req.end()
  })
  const whole = `${BIG.length} ${digest(BIG)}`
  for (const secure of [false, true]) {
    for (const path of ['/stall', '/read']) {
      for (const chunked of [false, true]) {
        t.equal(await post(path, chunked, secure), whole, `${secure ? 'TLS' : 'plain'} ${path}, ${chunked ? 'chunked' : 'Content-Length'}: every byte in order`)
      }
    }
  }
  // Two POSTs and a GET in one write: the second waits (stashed) while the first is answered.
  const small = BIG.subarray(0, 300_000)
  const pipelined = await new Promise<string>((resolve, reject) => {
    const s = net.connect(p.ports.http as number, '127.0.0.1', () => {
      const head = (path: string): string => `POST ${path} HTTP/1.1\r\nHost: big.test\r\nContent-Length: ${small.length}\r\n\r\n`
      s.end(Buffer.concat([Buffer.from(head('/stall')), small, Buffer.from(head('/read')), small, Buffer.from('GET /read HTTP/1.1\r\nHost: big.test\r\nConnection: close\r\n\r\n')]))
    })
    let text = ''
    s.on('data', (d: Buffer) => { text += d.toString('latin1') })
    s.on('close', () => resolve(text))
    s.on('error', reject)
  })
  const bodies = [...pipelined.matchAll(/\r\n\r\n(\d+ [0-9a-f]{64})/g)].map(m => m[1])
  t.same(bodies, [`${small.length} ${digest(small)}`, `${small.length} ${digest(small)}`, `0 ${digest(Buffer.alloc(0))}`], 'pipelined bodies each whole, in order')
})
