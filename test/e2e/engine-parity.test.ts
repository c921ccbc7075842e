import t from 'tap'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { freePort, startPortico } from '../helpers/portico.js'
import { send } from '../helpers/http.js'
import { rawExchange } from '../helpers/raw-socket.js'

/**
 * Transport parity: the same requests to a node:http listener and an engine listener of one
 * portico get the same answers. Retry rules (one set, src/router/retry.ts: `retries`, refused
 * connects failing over with the body), the request_timeout on trickled bodies, unknown methods
 * (RFC 9110 §9.1: 501; garbage 400), idle upstream connections closed after 4 s, a close-delimited
 * response with an empty body; HEAD framing
 * is the one documented difference.
 */
const LISTENERS = ['node', 'portico'] as const

/** Answers the method, body length and body hash; keeps idle connections a minute (portico closes them first). */
async function liveUpstream (): Promise<{ port: number, open: () => number, close: () => void }> {
  const server = http.createServer((req, res) => {
    const hash = createHash('sha256')
    let n = 0
    req.on('data', (d: Buffer) => { n += d.length; hash.update(d) })
    // An explicit Connection field: node then sends no `Keep-Alive: timeout=` hint; `/hinted` gets
    // node's own `Keep-Alive: timeout=60` (a hint longer than portico's 4 s must not keep it longer).
    req.on('end', () => {
      if (req.url !== '/hinted') res.setHeader('connection', 'keep-alive')
      res.end(`${req.method} ${n} ${hash.digest('hex')}`)
    })
  })
  server.keepAliveTimeout = 60_000
  let open = 0
  server.on('connection', (s: net.Socket) => { open++; s.once('close', () => { open-- }) })
  server.listen(0, '127.0.0.6')
  await once(server, 'listening')
  return { port: (server.address() as AddressInfo).port, open: () => open, close: () => { server.closeAllConnections(); server.close() } }
}

/**
 * Answers every request head with a chunked response (no body to HEAD), then closes; `/empty`
 * gets a close-delimited response whose body is empty (the head, then the upstream closes).
 */
async function chunkedUpstream (): Promise<{ port: number, close: () => void }> {
  const server = net.createServer(s => {
    s.on('error', () => {})
    s.once('data', (d: Buffer) => {
      const text = d.toString('latin1')
      if (text.startsWith('GET /empty ')) { s.end('HTTP/1.1 200 OK\r\nX-Kind: close\r\n\r\n'); return }
      const head = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: te\r\nConnection: close\r\n\r\n'
      s.end(text.startsWith('HEAD ') ? head : `${head}3\r\nabc\r\n0\r\n\r\n`)
    })
  })
  server.listen(0, '127.0.0.7')
  await once(server, 'listening')
  return { port: (server.address() as AddressInfo).port, close: () => server.close() }
}

t.test('node:http and the engine answer alike: retries, trickled bodies, HEAD framing, unknown methods', async t => {
  const live = await liveUpstream()
  const chunked = await chunkedUpstream()
  t.teardown(() => { live.close(); chunked.close() })
  const dead = await freePort('127.0.0.5') // nothing listens: connects are refused
  const pool = `["http://127.0.0.5:${dead}", "http://127.0.0.6:${live.port}"]`
  // Per listener its own routes: a pool marks its dead member down after the first refusal.
  const routes = LISTENERS.map(l => `
  - { name: none-${l}, host: none-${l}.test, listeners: [${l}], proxy: { upstreams: ${pool}, retries: 0 } }
  - { name: post-${l}, host: post-${l}.test, listeners: [${l}], proxy: { upstreams: ${pool} } }
  - { name: chunk-${l}, host: chunk-${l}.test, listeners: [${l}], proxy: { upstreams: ${pool} } }`).join('')
  const p = await startPortico({
    config: `
state_dir: \${STATE}
admin: null
log: { level: info, access: false }
limits: { header_timeout: 1s, request_timeout: 2s }
listeners:
  - { name: node, address: "127.0.0.1:0", engine: node }
  - { name: portico, address: "127.0.0.1:0", engine: portico }
routes:${routes}
  - { name: te, host: te.test, proxy: { upstreams: ["http://127.0.0.7:${chunked.port}"] } }
  - { name: app, proxy: { upstreams: ["http://127.0.0.6:${live.port}"] } }
`
  })
  t.teardown(() => p.stop('SIGKILL'))
  const expect = (method: string, body: Buffer): string => `${method} ${body.length} ${createHash('sha256').update(body).digest('hex')}`
  const body = randomBytes(64 * 1024)
  const pieces = [randomBytes(10_000), randomBytes(30_000)]

  await Promise.all(LISTENERS.map(async l => {
    const port = p.ports[l] as number
    const first = await send(port, `none-${l}.test`)
    t.same([first.status, /refused/.test(first.body)], [502, true], `${l}: retries: 0 — the refused first member is the answer`)
    t.equal((await send(port, `none-${l}.test`)).status, 200, `${l}: the dead member is then skipped (marked down)`)
    const post = await send(port, `post-${l}.test`, { method: 'POST', body, headers: { 'content-length': String(body.length) } })
    t.same([post.status, post.body], [200, expect('POST', body)], `${l}: a refused connect fails over with the POST body whole`)
    const chunkedPost = await send(port, `chunk-${l}.test`, { method: 'POST', body: pieces })
    t.same([chunkedPost.status, chunkedPost.body], [200, expect('POST', Buffer.concat(pieces))], `${l}: ... a chunked one too`)

    const head = await send(port, 'te.test', { method: 'HEAD' })
    // RFC 9110 §9.3.2: HEAD gets the fields GET would. The engine passes chunked through on GET,
    // so its HEAD says chunked too; node:http re-frames and omits it on HEAD (RFC 9112 §6.1: MAY).
    t.same([head.status, head.headers['transfer-encoding'], head.headers['x-kind'], head.body], [200, l === 'portico' ? 'chunked' : undefined, 'te', ''],
      `${l}: HEAD ${l === 'portico' ? 'keeps' : 'drops'} the upstream's Transfer-Encoding, no body`)
    t.equal((await send(port, 'te.test')).body, 'abc', `${l}: GET gets the chunked body`)
    const empty = await send(port, 'te.test', { path: '/empty' })
      .catch((err: Error) => ({ status: 0, headers: {} as Record<string, string>, body: err.message }))
    t.same([empty.status, empty.headers['x-kind'], empty.body], [200, 'close', ''],
      `${l}: a close-delimited response with an empty body: the head, then close`)

    const brew = await rawExchange(port, 'BREW / HTTP/1.1\r\nHost: a.test\r\n\r\n', 3000)
    t.match(brew.text, /^HTTP\/1\.1 501 /, `${l}: an unknown method token: 501 (RFC 9110 §9.1)`)
    const junk = await rawExchange(port, `${'A'.repeat(30)} / HTTP/1.1\r\nHost: a.test\r\n\r\n`, 3000)
    t.match(junk.text, /^HTTP\/1\.1 400 /, `${l}: an over-long method: 400`)

    const trickle = async (h: string): Promise<{ text: string, closedAfterMs: number | undefined }> => await rawExchange(port, s => {
      s.write(`POST / HTTP/1.1\r\nHost: a.test\r\n${h}\r\n`)
      const timer = setInterval(() => { if (s.writable) s.write(h.startsWith('Content') ? 'x' : '1\r\nx\r\n') }, 200)
      s.once('close', () => clearInterval(timer))
    }, 8000)
    for (const h of ['Content-Length: 1000\r\n', 'Transfer-Encoding: chunked\r\n']) {
      const slow = await trickle(h)
      t.ok(/^HTTP\/1\.1 408 /.test(slow.text) && slow.closedAfterMs !== undefined && slow.closedAfterMs < 6000,
        `${l}: a body trickled at 5 B/s (${h.trim()}) gets 408 and is closed (after ${slow.closedAfterMs ?? '-'} ms, request_timeout 2s): ${slow.text.slice(0, 20)}`)
    }
    t.equal((await send(port, 'a.test')).status, 200, `${l}: still serving`)
    const hinted = await send(port, 'a.test', { path: '/hinted' })
    t.same([hinted.status, hinted.headers['keep-alive']], [200, undefined], `${l}: the upstream's Keep-Alive hint is hop-by-hop`)
  }))
  // Idle upstream connections: both paths close them after 4 s, before the 5 s of common upstreams —
  // also the one whose upstream announced `Keep-Alive: timeout=60`.
  t.ok(live.open() > 0, `upstream connections kept alive after the requests (${live.open()})`)
  await new Promise(resolve => setTimeout(resolve, 5000))
  t.equal(live.open(), 0, 'portico closed every idle upstream connection within 5 s')
})
