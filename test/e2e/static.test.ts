import t from 'tap'
import http from 'node:http'
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { gunzipSync } from 'node:zlib'
import { httpConfig, makeTempDir, startPortico, tlsConfig } from '../helpers/portico.js'
import { fetchBytes, fetchBytesH2 } from '../helpers/fetch-bytes.js'

async function makeSite (dir: string): Promise<{ site: string, big: Buffer }> {
  const site = join(dir, 'site')
  await mkdir(join(site, 'assets'), { recursive: true })
  await mkdir(join(site, 'sub'))
  await mkdir(join(site, 'noindex'))
  await writeFile(join(site, 'index.html'), '<!doctype html><title>app</title><h1>index</h1>')
  await writeFile(join(site, 'assets', 'app.js'), 'console.log("app")\n'.repeat(200))
  await writeFile(join(site, 'main.3f9a1c2e.css'), 'body { color: red }\n')
  await writeFile(join(site, 'sub', 'index.html'), 'sub index')
  await writeFile(join(site, 'noindex', '<b>&"x.txt'), 'x')
  const big = randomBytes(300_000)
  await writeFile(join(site, 'big.bin'), big)
  await writeFile(join(site, 'empty.txt'), '')
  return { site, big }
}

t.test('static: index, SPA fallback, immutable assets, validators, ranges, HEAD, listings', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const { site, big } = await makeSite(dir)
  const p = await startPortico({
    dir,
    config: httpConfig(`
  - host: spa.test
    static: { root: ${site}, spa_fallback: true, cache_control: no-cache }
  - host: files.test
    path: /files
    static: { root: ${site}, browse: true }
  - host: plain.test
    static: { root: ${site} }
  - host: cors.test
    cors: { origins: ["https://app.test"] }
    static: { root: ${site} }`)
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.http!
  const get = async (host: string, path: string, headers: Record<string, string> = {}, method = 'GET'): ReturnType<typeof fetchBytes> =>
    await fetchBytes(port, host, { path, headers, method })

  const index = await get('spa.test', '/')
  t.equal(index.status, 200)
  t.equal(index.body.toString(), '<!doctype html><title>app</title><h1>index</h1>')
  t.equal(index.headers['content-type'], 'text/html; charset=utf-8')
  t.equal(index.headers['cache-control'], 'no-cache', 'cache_control for files that are not hashed assets')
  t.match(index.headers.etag, /^"[0-9a-f]+-[0-9a-f]+"$/)
  const mtime = (await stat(join(site, 'index.html'))).mtimeMs
  t.equal(index.headers['last-modified'], new Date(Math.floor(mtime / 1000) * 1000).toUTCString())

  const spa = await get('spa.test', '/projects/42/servers?x=1')
  t.same([spa.status, spa.body.toString()], [200, index.body.toString()], 'unknown path → index.html (try_files $uri /index.html)')
  t.equal(spa.headers['cache-control'], 'no-cache', 'the fallback is never cached as immutable')
  t.equal((await get('spa.test', '/assets/missing.js')).status, 404, 'a missing hashed asset is a 404, not the index')
  t.equal((await get('plain.test', '/projects/42')).status, 404, 'no fallback without spa_fallback')

  const asset = await get('spa.test', '/assets/app.js')
  t.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable', 'files under assets/ are immutable')
  t.match(asset.headers['content-type'], /javascript/)
  const hashed = await get('spa.test', '/main.3f9a1c2e.css')
  t.equal(hashed.headers['cache-control'], 'public, max-age=31536000, immutable', 'a hash segment in the name')
  t.match(hashed.headers['content-type'], /^text\/css/)

  t.equal((await get('spa.test', '/', { 'if-none-match': index.headers.etag! })).status, 304, 'If-None-Match')
  t.equal((await get('spa.test', '/', { 'if-none-match': `"other", W/${index.headers.etag!}` })).status, 304, 'weak comparison in a list')
  t.equal((await get('spa.test', '/', { 'if-none-match': '"other"' })).status, 200, 'another tag: full answer')
  const ims = await get('spa.test', '/', { 'if-modified-since': index.headers['last-modified']! })
  t.equal(ims.status, 304, 'If-Modified-Since')
  t.equal(ims.body.length, 0)
  t.equal(ims.headers.etag, index.headers.etag, '304 carries the validators')
  t.equal((await get('spa.test', '/', { 'if-modified-since': 'Thu, 01 Jan 1970 00:00:00 GMT' })).status, 200)
  t.equal((await get('spa.test', '/', { 'if-none-match': '"other"', 'if-modified-since': index.headers['last-modified']! })).status, 200,
    'If-None-Match wins over If-Modified-Since')

  const r1 = await get('plain.test', '/big.bin', { range: 'bytes=10-19' })
  t.same([r1.status, r1.headers['content-range'], r1.headers['content-length']], [206, `bytes 10-19/${big.length}`, '10'])
  t.ok(r1.body.equals(big.subarray(10, 20)), 'range bytes')
  const suffix = await get('plain.test', '/big.bin', { range: 'bytes=-5' })
  t.ok(suffix.status === 206 && suffix.body.equals(big.subarray(big.length - 5)), 'suffix range')
  const open1 = await get('plain.test', '/big.bin', { range: `bytes=${big.length - 3}-` })
  t.ok(open1.status === 206 && open1.body.equals(big.subarray(big.length - 3)), 'open-ended range')
  const clipped = await get('plain.test', '/big.bin', { range: `bytes=${big.length - 2}-${big.length + 100}` })
  t.same([clipped.status, clipped.headers['content-range']], [206, `bytes ${big.length - 2}-${big.length - 1}/${big.length}`], 'end clipped to the size')
  const unsat = await get('plain.test', '/big.bin', { range: `bytes=${big.length}-` })
  t.same([unsat.status, unsat.headers['content-range']], [416, `bytes */${big.length}`], 'unsatisfiable')
  t.equal((await get('plain.test', '/empty.txt', { range: 'bytes=0-' })).status, 416, 'no byte of an empty file can be asked for')
  const multi = await get('plain.test', '/big.bin', { range: 'bytes=0-1,5-6' })
  t.ok(multi.status === 200 && multi.body.equals(big), 'several ranges: the whole file')
  const etag = r1.headers.etag!
  t.equal((await get('plain.test', '/big.bin', { range: 'bytes=0-0', 'if-range': etag })).status, 206, 'If-Range with the current ETag')
  const stale = await get('plain.test', '/big.bin', { range: 'bytes=0-0', 'if-range': '"stale"' })
  t.ok(stale.status === 200 && stale.body.equals(big), 'If-Range with another ETag: the whole file')
  t.equal((await get('plain.test', '/big.bin', { range: 'bytes=0-0', 'if-range': r1.headers['last-modified']! })).status, 206, 'If-Range with the date')
  const full = await get('plain.test', '/big.bin')
  t.ok(full.body.equals(big), 'whole file byte for byte')
  t.same([full.headers['content-type'], full.headers['accept-ranges']], ['application/octet-stream', 'bytes'])

  const head = await get('plain.test', '/big.bin', {}, 'HEAD')
  t.same([head.status, head.headers['content-length'], head.body.length], [200, String(big.length), 0], 'HEAD: length, no body')
  const post = await get('plain.test', '/index.html', {}, 'POST')
  t.same([post.status, post.headers.allow], [405, 'GET, HEAD'])

  const dirNoSlash = await get('plain.test', '/sub?a=1')
  t.same([dirNoSlash.status, dirNoSlash.headers.location], [301, '/sub/?a=1'], 'a directory without its slash is redirected')
  t.equal((await get('plain.test', '/sub/')).body.toString(), 'sub index', 'directory index')
  t.equal((await get('plain.test', '/noindex/')).status, 404, 'no listing unless browse')
  const listing = await get('files.test', '/files/noindex/')
  t.equal(listing.status, 200)
  t.match(listing.body.toString(), '&lt;b&gt;&amp;&quot;x.txt', 'names are HTML-escaped')
  t.match(listing.body.toString(), 'href="%3Cb%3E%26%22x.txt"', 'links are URL-encoded')
  t.notMatch(listing.body.toString(), '<b>', 'no markup from a file name')
  const cors = await get('cors.test', '/assets/app.js', { origin: 'https://app.test' })
  t.same([cors.status, cors.headers['access-control-allow-origin']], [200, 'https://app.test'], 'the route\'s CORS headers on files')
  t.equal((await get('files.test', '/files/big.bin', { range: 'bytes=0-3' })).body.toString('hex'), big.subarray(0, 4).toString('hex'), 'route path prefix is removed (alias)')
})

t.test('static over HTTP/2: a file, a range and a compressed answer', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const { site, big } = await makeSite(dir)
  const p = await startPortico({
    dir,
    config: tlsConfig(['h2.test'], `
  - host: h2.test
    compress: {}
    static: { root: ${site}, spa_fallback: true }`)
  })
  t.teardown(() => p.stop('SIGKILL'))
  const file = await fetchBytesH2(p.ports.https!, 'h2.test', { path: '/big.bin' })
  t.ok(file.status === 200 && file.body.equals(big), 'binary file over h2')
  const range = await fetchBytesH2(p.ports.https!, 'h2.test', { path: '/big.bin', headers: { range: 'bytes=100-199' } })
  t.ok(range.status === 206 && range.body.equals(big.subarray(100, 200)), 'range over h2')
  const js = await fetchBytesH2(p.ports.https!, 'h2.test', { path: '/assets/app.js', headers: { 'accept-encoding': 'gzip' } })
  t.equal(js.headers['content-encoding'], 'gzip')
  t.equal(gunzipSync(js.body).toString(), await readFile(join(site, 'assets', 'app.js'), 'utf8'), 'gzip over h2 decodes to the file')
})

t.test('a 4 GiB file: offsets past 4 GiB, and a slow reader holds memory bounded', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const site = join(dir, 'site')
  await mkdir(site)
  const size = 4 * 1024 ** 3 + 4096
  // Sparse: costs no disk, reads as zeros except the tail written here.
  const fh = await open(join(site, 'disk.img'), 'w')
  await fh.truncate(size - 8)
  await fh.write(Buffer.from('TAILTAIL'), 0, 8, size - 8)
  await fh.close()
  const p = await startPortico({ dir, config: httpConfig(`
  - host: big.test
    static: { root: ${site} }`) })
  t.teardown(() => p.stop('SIGKILL'))
  const tail = await fetchBytes(p.ports.http!, 'big.test', { path: '/disk.img', headers: { range: `bytes=${size - 8}-` } })
  t.same([tail.status, tail.body.toString(), tail.headers['content-range']], [206, 'TAILTAIL', `bytes ${size - 8}-${size - 1}/${size}`])
  // rchar: every byte the process read (file and sockets). While the client reads nothing, it must come to a stop
  // with no more read ahead than the socket buffers hold (loopback autotuning: a few MiB).
  const readBytes = async (): Promise<number> => Number(/rchar:\s+(\d+)/.exec(await readFile(`/proc/${p.child.pid!}/io`, 'utf8'))?.[1] ?? 0)
  const start = await readBytes()
  const req = http.get({ host: '127.0.0.1', port: p.ports.http!, path: '/disk.img', headers: { host: 'big.test' }, agent: false })
  const [res] = await once(req, 'response') as [http.IncomingMessage]
  t.equal(res.headers['content-length'], String(size))
  let got = 0
  res.on('data', (d: Buffer) => { got += d.length; if (got >= 64 * 1024 ** 2) res.pause() })
  const deadline = Date.now() + 20_000
  while (got < 64 * 1024 ** 2 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  t.ok(got >= 64 * 1024 ** 2, `read ${got} bytes`)
  let last = await readBytes()
  let settled = false
  for (let i = 0; i < 20 && !settled; i++) {
    await new Promise(resolve => setTimeout(resolve, 500))
    const now = await readBytes()
    settled = now - last < 64 * 1024
    last = now
  }
  t.ok(settled, 'portico stopped reading the file while the client paused')
  // What the kernel may hold between the two: the client's receive and portico's send buffer at their autotuning maximum.
  const maxOf = async (f: string): Promise<number> => Number((await readFile(`/proc/sys/net/ipv4/${f}`, 'utf8')).trim().split(/\s+/)[2])
  const buffers = await maxOf('tcp_rmem') + await maxOf('tcp_wmem')
  const ahead = last - start - got
  t.ok(ahead < buffers + 8 * 1024 ** 2, `read ahead of the client: ${Math.round(ahead / 1024 ** 2)} MiB (socket buffers up to ${Math.round(buffers / 1024 ** 2)} MiB; file: 4 GiB)`)
  const rss = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${p.child.pid!}/status`, 'utf8'))?.[1] ?? 0) * 1024
  t.ok(rss < 512 * 1024 ** 2, `RSS ${Math.round(rss / 1024 ** 2)} MiB`)
  req.destroy()
})
