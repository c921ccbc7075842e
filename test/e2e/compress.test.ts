import t from 'tap'
import http from 'node:http'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib'
import { httpConfig, makeTempDir, startPortico } from '../helpers/portico.js'
import { fetchBytes } from '../helpers/fetch-bytes.js'

/** Compressible text of exactly n bytes. */
const text = (n: number): Buffer => Buffer.from('{"id":1,"name":"portico","tags":["edge","gzip"]}\n'.repeat(Math.ceil(n / 48) + 1).slice(0, n))

/** The upstream answers /gen?type=&size=&status=[&encoded=1][&chunked=1][&range=1][&notransform=1] with headers the row asks for. */
function upstreamServer (): http.Server {
  return http.createServer((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams
    const status = Number(q.get('status') ?? 200)
    const body = text(Number(q.get('size') ?? 0))
    const headers: Record<string, string> = { 'content-type': q.get('type') ?? 'application/json', etag: '"v1"', vary: 'Origin' }
    if (status === 204 || status === 304) { res.writeHead(status, headers); res.end(); return }
    let out = body
    if (q.get('encoded') === '1') { out = gzipSync(body); headers['content-encoding'] = 'gzip' }
    if (q.get('notransform') === '1') headers['cache-control'] = 'public, no-transform'
    if (q.get('range') === '1') headers['content-range'] = `bytes 0-${out.length - 1}/${out.length * 2}`
    if (q.get('chunked') !== '1') headers['content-length'] = String(out.length)
    res.writeHead(status, headers)
    res.end(req.method === 'HEAD' ? undefined : out)
  })
}

type Row = [accept: string | undefined, query: string, method: string, expected: 'br' | 'gzip' | undefined, vary: boolean]

/** Accept-Encoding × content type × size × status (and method, framing, existing encodings). */
const TABLE: Row[] = [
  ['gzip', 'size=5000', 'GET', 'gzip', true],
  ['br', 'size=5000', 'GET', 'br', true],
  ['gzip, deflate, br', 'size=5000', 'GET', 'br', true],
  ['gzip;q=1, br;q=0.5', 'size=5000', 'GET', 'gzip', true],
  ['br;q=0, gzip', 'size=5000', 'GET', 'gzip', true],
  ['br;q=0.2, gzip;q=0.3', 'size=5000', 'GET', 'gzip', true],
  ['*', 'size=5000', 'GET', 'br', true],
  ['*;q=0.5, gzip;q=0.8', 'size=5000', 'GET', 'gzip', true],
  ['gzip;q=0, *', 'size=5000', 'GET', 'br', true],
  ['*;q=0', 'size=5000', 'GET', undefined, true],
  ['identity;q=0', 'size=5000', 'GET', undefined, true],
  ['identity', 'size=5000', 'GET', undefined, true],
  [undefined, 'size=5000', 'GET', undefined, true],
  ['deflate', 'size=5000', 'GET', undefined, true],
  ['GZIP', 'size=5000', 'GET', 'gzip', true],
  ['x-gzip', 'size=5000', 'GET', 'gzip', true],
  ['br;q=0, gzip;q=0', 'size=5000', 'GET', undefined, true],
  ['gzip', 'size=5000&type=text/html;%20charset=utf-8', 'GET', 'gzip', true],
  ['gzip', 'size=5000&type=text/css', 'GET', 'gzip', true],
  ['br', 'size=5000&type=image/svg%2Bxml', 'GET', 'br', true],
  ['gzip', 'size=5000&type=image/png', 'GET', undefined, false],
  ['gzip', 'size=5000&type=application/octet-stream', 'GET', undefined, false],
  ['gzip', 'size=1023', 'GET', undefined, false],
  ['gzip', 'size=1024', 'GET', 'gzip', true],
  ['gzip', 'size=0', 'GET', undefined, false],
  ['gzip', 'size=5000&chunked=1', 'GET', 'gzip', true],
  ['gzip', 'size=10&chunked=1', 'GET', 'gzip', true],
  ['gzip', 'size=5000&status=404', 'GET', 'gzip', true],
  ['br', 'size=5000&status=500', 'GET', 'br', true],
  ['gzip', 'size=5000&status=201', 'GET', 'gzip', true],
  ['gzip', 'status=204', 'GET', undefined, false],
  ['gzip', 'status=304', 'GET', undefined, false],
  ['gzip', 'size=5000&status=206&range=1', 'GET', undefined, false],
  ['gzip', 'size=5000&encoded=1', 'GET', undefined, false],
  ['gzip', 'size=5000&notransform=1', 'GET', undefined, false],
  ['br', 'size=5000&encoded=1', 'GET', undefined, false],
  ['gzip', 'size=5000', 'HEAD', undefined, true],
  ['gzip, br', 'size=200000', 'GET', 'br', true],
  ['gzip', 'size=200000&chunked=1', 'GET', 'gzip', true]
]

t.test('compression negotiation table against the real binary (proxy, respond, static)', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const upstream = upstreamServer()
  upstream.listen(0, '127.0.0.2')
  await once(upstream, 'listening')
  t.teardown(() => upstream.close())
  const up = (upstream.address() as { port: number }).port
  const site = join(dir, 'site')
  await mkdir(site)
  await writeFile(join(site, 'data.json'), text(8000))
  await writeFile(join(site, 'small.json'), text(100))
  const p = await startPortico({
    dir,
    config: httpConfig(`
  - host: proxy.test
    compress: {}
    proxy: { upstreams: ["http://127.0.0.2:${up}"] }
  - host: plain.test
    proxy: { upstreams: ["http://127.0.0.2:${up}"] }
  - host: gzonly.test
    compress: { encodings: [gzip], types: [application/json], min_size: 10 }
    proxy: { upstreams: ["http://127.0.0.2:${up}"] }
  - host: respond.test
    compress: { min_size: 100 }
    respond: { body: "${'hello compressed world '.repeat(20)}" }
  - host: static.test
    compress: {}
    static: { root: ${site} }`)
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.http!
  for (const [accept, query, method, expected, vary] of TABLE) {
    const name = `${method} ${query} Accept-Encoding: ${accept ?? '(none)'}`
    const r = await fetchBytes(port, 'proxy.test', { path: `/gen?${query}`, method, headers: accept === undefined ? {} : { 'accept-encoding': accept } })
    const q = new URL(`http://x/gen?${query}`).searchParams
    t.equal(r.headers['content-encoding'], expected ?? (q.get('encoded') === '1' ? 'gzip' : undefined), `${name}: encoding`)
    t.equal(r.headers.vary, vary ? 'Origin, Accept-Encoding' : 'Origin', `${name}: vary`)
    if (method === 'HEAD' || q.get('status') === '204' || q.get('status') === '304') { t.equal(r.body.length, 0, `${name}: no body`); continue }
    const original = text(Number(q.get('size') ?? 0))
    const decoded = expected === 'gzip' || q.get('encoded') === '1' ? gunzipSync(r.body) : expected === 'br' ? brotliDecompressSync(r.body) : r.body
    t.ok(decoded.equals(original), `${name}: body decodes to the upstream's bytes`)
    if (expected !== undefined) {
      t.equal(r.headers['content-length'], undefined, `${name}: no Content-Length of the identity body`)
      t.equal(r.headers.etag, 'W/"v1"', `${name}: ETag weakened`)
      if (original.length >= 5000) t.ok(r.body.length < original.length / 4, `${name}: compressed ${original.length} → ${r.body.length}`)
    } else if (q.get('chunked') !== '1' && q.get('status') !== '206') {
      t.equal(r.headers.etag, '"v1"', `${name}: ETag kept`)
    }
  }
  const plain = await fetchBytes(port, 'plain.test', { path: '/gen?size=5000', headers: { 'accept-encoding': 'gzip, br' } })
  t.same([plain.headers['content-encoding'], plain.headers.vary], [undefined, 'Origin'], 'routes without compress are untouched')
  const gz = await fetchBytes(port, 'gzonly.test', { path: '/gen?size=50', headers: { 'accept-encoding': 'br, gzip' } })
  t.equal(gz.headers['content-encoding'], 'gzip', 'only the configured encodings; min_size configurable')
  t.equal((await fetchBytes(port, 'gzonly.test', { path: '/gen?size=5000&type=text/html', headers: { 'accept-encoding': 'gzip' } })).headers['content-encoding'], undefined, 'only the configured types')
  const respond = await fetchBytes(port, 'respond.test', { headers: { 'accept-encoding': 'br' } })
  t.same([respond.headers['content-encoding'], brotliDecompressSync(respond.body).toString()], ['br', 'hello compressed world '.repeat(20)], 'respond routes')
  const file = await fetchBytes(port, 'static.test', { path: '/data.json', headers: { 'accept-encoding': 'gzip' } })
  t.same([file.headers['content-encoding'], file.headers['content-length']], ['gzip', undefined], 'static files')
  t.ok(gunzipSync(file.body).equals(await readFile(join(site, 'data.json'))))
  t.match(file.headers.etag, /^W\//)
  const ranged = await fetchBytes(port, 'static.test', { path: '/data.json', headers: { 'accept-encoding': 'gzip', range: 'bytes=0-99' } })
  t.same([ranged.status, ranged.headers['content-encoding'], ranged.body.length], [206, undefined, 100], 'a range is never compressed')
  const small = await fetchBytes(port, 'static.test', { path: '/small.json', headers: { 'accept-encoding': 'gzip' } })
  t.same([small.headers['content-encoding'], small.body.length], [undefined, 100], 'below min_size: identity')
  const notModified = await fetchBytes(port, 'static.test', { path: '/data.json', headers: { 'accept-encoding': 'gzip', 'if-none-match': file.headers.etag! } })
  t.equal(notModified.status, 304, 'the weakened ETag still validates')
})

t.test('compression streams with backpressure: a paused client stops the upstream', async t => {
  const total = 256 * 1024 ** 2
  let written = 0
  // Fresh random text per chunk: compresses only ~25%, so the client's socket really fills up.
  const chunk = (): Buffer => Buffer.from(randomBytes(48 * 1024).toString('base64'))
  const upstream = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    const pump = (): void => {
      while (written < total) {
        const c = chunk()
        written += c.length
        if (!res.write(c)) { res.once('drain', pump); return }
      }
      res.end()
    }
    pump()
  })
  upstream.listen(0, '127.0.0.3')
  await once(upstream, 'listening')
  t.teardown(() => { upstream.closeAllConnections(); upstream.close() })
  const up = (upstream.address() as { port: number }).port
  const p = await startPortico({ config: httpConfig(`
  - host: stream.test
    compress: { brotli_quality: 1 }
    proxy: { upstreams: ["http://127.0.0.3:${up}"] }`) })
  t.teardown(() => p.stop('SIGKILL'))
  const req = http.get({ host: '127.0.0.1', port: p.ports.http!, path: '/', headers: { host: 'stream.test', 'accept-encoding': 'br' }, agent: false })
  const [res] = await once(req, 'response') as [http.IncomingMessage]
  t.equal(res.headers['content-encoding'], 'br')
  res.pause()
  await new Promise(resolve => setTimeout(resolve, 1500))
  const stalled = written
  await new Promise(resolve => setTimeout(resolve, 1000))
  t.ok(stalled < total / 4, `upstream wrote ${Math.round(stalled / 1024 ** 2)} MiB of ${total / 1024 ** 2} MiB while the client read nothing`)
  t.equal(written, stalled, 'and then stopped: backpressure reached it through the encoder')
  req.destroy()
})
