import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'
import { freePort, httpConfig, startPortico } from '../helpers/portico.js'
import { httpUpstream, serve } from '../helpers/upstreams.js'
import { send } from '../helpers/http.js'
import { figure, scaled } from '../helpers/figures.js'

/**
 * Retry rules of `forward()` (issue 17 point 1, issue 19 point 3): `proxy.retries` bounds the
 * failover, and a refused connect moves on to the next member whatever the request carries —
 * the body has not been read yet, so nothing is buffered and nothing is lost.
 */
t.test('retries: 0 answers the dead member; a refused connect fails over with the body intact', async t => {
  const live = await httpUpstream(t, (req, res) => {
    const hash = createHash('sha256')
    let n = 0
    req.on('data', (d: Buffer) => { n += d.length; hash.update(d) })
    req.on('end', () => res.end(`${req.method} ${n} ${hash.digest('hex')}`))
  }, '127.0.0.6')
  const livePort = live.port
  const deadPort = await freePort('127.0.0.5') // nothing listens: connects are refused
  // Accepts, reads the request, closes without answering: the request may have had effects.
  const resetter = await serve(t, net.createServer(s => { s.on('error', () => {}); s.once('data', () => s.destroy()) }), '127.0.0.7')
  const resetPool = `["${resetter.origin}", "http://127.0.0.6:${livePort}"]`
  // Answers a head and dies before its body (a primary killed mid-response): portico still holds
  // that head (it waits for the first body byte), so the client has seen nothing yet.
  const cutRequests: string[] = []
  const cutter = await serve(t, net.createServer(s => {
    s.on('error', () => {})
    s.once('data', (d: Buffer) => { cutRequests.push(d.toString('latin1').split(' ')[0]!); s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n') })
  }), '127.0.0.8')
  const cutPool = `["${cutter.origin}", "http://127.0.0.6:${livePort}"]`
  // Each route has its own pool; the dead member is first, so a route's first request tries it first.
  const pool = `["http://127.0.0.5:${deadPort}", "http://127.0.0.6:${livePort}"]`
  const route = (name: string, extra = ''): string => `
  - name: ${name}
    host: ${name}.test
    proxy: { upstreams: ${pool}${extra} }`
  const p = await startPortico({
    config: httpConfig([
      route('none', ', retries: 0'), route('one'), route('cl'), route('chunked'), route('limited', ', max_body_size: 10m'), route('put'), route('burst'),
      route('reset-get').replace(pool, resetPool), route('reset-post').replace(pool, resetPool),
      route('cut-get').replace(pool, cutPool), route('cut-post').replace(pool, cutPool)
    ].join(''))
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.http!

  const first = await send(port, 'none.test')
  t.equal(first.status, 502, 'retries: 0 — the refused first member is the answer')
  t.match(first.body, /refused/)
  t.equal((await send(port, 'none.test')).status, 200, 'the dead member is then skipped (marked down)')
  t.equal((await send(port, 'one.test')).status, 200, 'retries: 1 (default) — failover to the live member')

  const expect = (method: string, body: Buffer): string => `${method} ${body.length} ${createHash('sha256').update(body).digest('hex')}`
  const small = randomBytes(64 * 1024)
  const cl = await send(port, 'cl.test', { method: 'POST', body: small, headers: { 'content-type': 'application/octet-stream', 'content-length': String(small.length) } })
  t.same([cl.status, cl.body], [200, expect('POST', small)], 'POST with Content-Length failed over, body whole')
  const pieces = Array.from({ length: 16 }, () => randomBytes(64 * 1024))
  const whole = Buffer.concat(pieces)
  const chunked = await send(port, 'chunked.test', { method: 'POST', body: pieces })
  t.same([chunked.status, chunked.body], [200, expect('POST', whole)], 'chunked POST failed over, body whole')
  const limited = await send(port, 'limited.test', { method: 'POST', body: pieces })
  t.same([limited.status, limited.body], [200, expect('POST', whole)], 'chunked POST through the size limit failed over')
  const put = await send(port, 'put.test', { method: 'PUT', body: small, headers: { 'content-length': String(small.length) } })
  t.same([put.status, put.body], [200, expect('PUT', small)], 'PUT with a body failed over')

  // Concurrent uploads pick their candidates before the first refusal marks the dead member
  // down: round-robin sends about half of them to it first, and every one must fail over whole.
  const BURST = scaled(20)
  const bodies = Array.from({ length: BURST }, (_, i) => randomBytes(8 * 1024 + i))
  const replies = await Promise.all(bodies.map(async (b, i) => await send(port, 'burst.test', i % 2 === 0
    ? { method: 'POST', body: b, headers: { 'content-length': String(b.length) } }
    : { method: 'POST', body: [b.subarray(0, 4096), b.subarray(4096)] })))
  const lost = replies.filter((r, i) => r.status !== 200 || r.body !== expect('POST', bodies[i]!)).length
  t.equal(lost, 0, `${BURST} concurrent POSTs (Content-Length and chunked) against a dead and a live member: none lost`)
  figure({
    case: 'failover with request bodies',
    tried: 'concurrent POSTs (half Content-Length, half chunked) to a pool of a refusing and a live member',
    count: BURST,
    result: `${lost} lost or altered`
  })

  const get = await send(port, 'reset-get.test')
  t.same([get.status, get.body], [200, 'GET 0 ' + createHash('sha256').digest('hex')], 'a GET whose connection broke is retried elsewhere')
  const post = await send(port, 'reset-post.test', { method: 'POST', body: small, headers: { 'content-length': String(small.length) } })
  t.equal(post.status, 502, 'a POST whose connection broke after it was sent is not repeated')

  const cutGet = await send(port, 'cut-get.test')
  t.same([cutGet.status, cutGet.body], [200, 'GET 0 ' + createHash('sha256').digest('hex')],
    'a GET whose upstream closed between its head and its body is answered by the next member')
  t.same(cutRequests, ['GET', 'GET'], 'the cut member was tried twice (once more on a fresh connection), then the next')
  cutRequests.length = 0
  const cutPost = await send(port, 'cut-post.test', { method: 'POST', body: small, headers: { 'content-length': String(small.length) } })
  t.equal(cutPost.status, 502, 'a POST whose upstream closed after its head is not repeated')
  t.same(cutRequests, ['POST'], 'the POST reached the cut member once')
})
