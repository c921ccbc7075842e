import t from 'tap'
import { parseConfigText } from '../../src/config/index.js'
import { configProblems } from '../helpers/config-problems.js'
import { byteRange, notModified, relativeFilePath } from '../../src/static/index.js'
import { chooseEncoding, compressingReply, compileCompress } from '../../src/compress/index.js'
import { compileErrorPages } from '../../src/router/error-pages.js'
import type { HeaderPairs, Reply } from '../../src/router/reply.js'
import { randomBytes } from 'node:crypto'
import { gunzipSync } from 'node:zlib'

const problems = configProblems
const base = 'listeners: [{name: a, address: ":1"}]\nroutes:\n'

t.test('config: static, compress and error_pages keys are validated at file:line:col', async t => {
  t.same(problems(`${base}  - host: x\n    static: { root: /srv, spa_fallbak: true }\n`),
    ['c.yaml:4:27: routes[0].static.spa_fallbak: unknown key "spa_fallbak" (did you mean "spa_fallback"?)'])
  t.match(problems(`${base}  - host: x\n    static: { root: /srv, immutable: "(" }\n`), [/^c\.yaml:4:38: routes\[0\]\.static\.immutable: invalid regex/])
  t.match(problems(`${base}  - host: x\n    static: { root: /srv, index: ../x.html }\n`), [/routes\[0\]\.static\.index: a file name/])
  t.match(problems(`${base}  - host: x\n    static: { root: /srv }\n    respond: {}\n`), [/exactly one action, found respond and static/])
  t.same(problems(`${base}  - host: x\n    compress: { gzip_levl: 5 }\n    static: { root: /srv }\n`),
    ['c.yaml:4:17: routes[0].compress.gzip_levl: unknown key "gzip_levl" (did you mean "gzip_level"?)'])
  t.match(problems(`${base}  - host: x\n    compress: { encodings: [zstd] }\n    static: { root: /srv }\n`), [/routes\[0\]\.compress\.encodings\[0\]/])
  t.match(problems(`${base}  - host: x\n    compress: { min_size: lots }\n    static: { root: /srv }\n`), [/invalid size "lots"/])
  t.match(problems(`${base}  - host: x\n    error_pages: [{ status: "6xx", body: x }]\n    static: { root: /srv }\n`), [/routes\[0\]\.error_pages\[0\]\.status/])
  t.match(problems(`${base}  - host: x\n    error_pages: [{ status: 502 }]\n    static: { root: /srv }\n`), [/exactly one of body or file/])
  const ok = parseConfigText(`${base}  - host: x\n    compress: {}\n    error_pages: [{ status: [502, "4xx"], file: m.html }]\n    static: { root: www }\n`, '/etc/portico/p.yaml')
  const r = ok.routes[0]!
  t.same([r.static?.root, r.static?.index, r.static?.spa_fallback, r.error_pages?.[0]?.file], ['/etc/portico/www', 'index.html', false, '/etc/portico/m.html'], 'paths relative to the config file')
  t.same([r.compress?.encodings, r.compress?.min_size, r.compress?.gzip_level, r.compress?.brotli_quality], [['br', 'gzip'], 1024, 6, 4])
})

t.test('safe paths: decoded once, traversal and encoded separators refused', async t => {
  t.same(relativeFilePath('/a/b%20c.txt'), ['a', 'b c.txt'])
  t.same(relativeFilePath('//a///b'), ['a', 'b'])
  t.same(relativeFilePath('/%252e%252e/x'), ['%2e%2e', 'x'], 'double encoding stays a literal name')
  t.same(relativeFilePath('/'), [])
  for (const bad of ['/../x', '/a/..', '/%2e%2e/x', '/.%2E/x', '/a%2fb', '/a%5Cb', '/a\\b', '/a%00', '/%c0%ae', '/%', '/a%0a', '/.']) {
    t.equal(relativeFilePath(bad), undefined, bad)
  }
})

t.test('validators and ranges', async t => {
  const f = { size: 1000, mtimeMs: 1_700_000_000_500 }
  const tag = '"x"'
  const modified = new Date(1_700_000_000_000).toUTCString()
  t.ok(notModified(tag, f, '"a", W/"x"', undefined))
  t.ok(notModified(tag, f, '*', undefined))
  t.notOk(notModified(tag, f, '"a"', modified), 'If-None-Match decides alone')
  t.ok(notModified(tag, f, undefined, modified), 'same second')
  t.notOk(notModified(tag, f, undefined, new Date(1_699_999_999_000).toUTCString()))
  t.notOk(notModified(tag, f, undefined, 'garbage'))
  const r = (range: string | undefined, ifRange?: string): unknown => byteRange(1000, range, ifRange, tag, modified)
  t.same(r('bytes=0-99'), { kind: 'partial', start: 0, end: 99 })
  t.same(r('bytes=990-'), { kind: 'partial', start: 990, end: 999 })
  t.same(r('bytes=-10'), { kind: 'partial', start: 990, end: 999 })
  t.same(r('bytes=-5000'), { kind: 'partial', start: 0, end: 999 })
  t.same(r('bytes=500-99999'), { kind: 'partial', start: 500, end: 999 })
  t.same(r('bytes=1000-'), { kind: 'unsatisfiable' })
  t.same(r('bytes=-0'), { kind: 'unsatisfiable' })
  for (const full of ['bytes=5-1', 'bytes=0-1,3-4', 'items=0-1', 'bytes=-', 'bytes=x-1', undefined]) t.same(r(full), { kind: 'full' }, String(full))
  t.same(r('bytes=0-1', '"y"'), { kind: 'full' }, 'If-Range: another tag')
  t.same(r('bytes=0-1', 'W/"x"'), { kind: 'full' }, 'If-Range needs a strong match')
  t.same(r('bytes=0-1', modified), { kind: 'partial', start: 0, end: 1 })
})

t.test('Accept-Encoding negotiation', async t => {
  const both = ['br', 'gzip'] as const
  const cases: Array<[string | undefined, string | undefined]> = [
    ['gzip', 'gzip'], ['br, gzip', 'br'], ['gzip, br', 'br'], ['gzip;q=1.0, br;q=0.9', 'gzip'], ['br;q=0', undefined],
    ['*', 'br'], ['*;q=0', undefined], ['gzip;q=0, *;q=0.1', 'br'], ['x-gzip', 'gzip'], ['identity', undefined],
    ['', undefined], [undefined, undefined], ['gzip ; q=0.5 , br ; q=0.4', 'gzip'], ['BR', 'br'], ['gzip;q=0.001', 'gzip'], ['gzip;q=0.000', undefined]
  ]
  for (const [accept, want] of cases) t.equal(chooseEncoding(accept, [...both]), want, String(accept))
  t.equal(chooseEncoding('br, gzip', ['gzip', 'br']), 'gzip', 'server order breaks ties')
})

/** An in-memory Reply with a window of `room` writes before it asks to wait. */
function memoryReply (room: number): Reply & { status: number, headers: HeaderPairs, body: Buffer[], ended: boolean, drain: () => void } {
  let drains: Array<() => void> = []
  let pending = 0
  const m = {
    status: 0, headers: [] as HeaderPairs, body: [] as Buffer[], ended: false, headSent: false,
    head (status: number, headers: HeaderPairs) { m.status = status; m.headers = headers; m.headSent = true },
    write (chunk: Buffer) { m.body.push(chunk); return ++pending < room },
    end (chunk?: Buffer) { if (chunk !== undefined) m.body.push(chunk); m.ended = true },
    onDrain (fn: () => void) { drains.push(fn) },
    onClose () {},
    destroy () {},
    drain () { pending = 0; const d = drains; drains = []; for (const fn of d) fn() }
  }
  return m
}

t.test('compressingReply: headers, and the encoder waits for a full inner reply', async t => {
  const settings = compileCompress({ encodings: ['gzip'], types: ['text/plain'], min_size: 10, gzip_level: 1, brotli_quality: 4 })
  const inner = memoryReply(2)
  const r = compressingReply(inner, settings, { method: 'GET', acceptEncoding: 'gzip' })
  r.head(200, [['content-type', 'text/plain; charset=utf-8'], ['content-length', '999999'], ['etag', '"e"'], ['accept-ranges', 'bytes']])
  t.same(inner.headers, [['content-type', 'text/plain; charset=utf-8'], ['etag', 'W/"e"'], ['vary', 'Accept-Encoding'], ['content-encoding', 'gzip']])
  // An honest producer (waits for drain) against an inner reply that never drains: it must get stuck.
  const input: Buffer[] = []
  const waitDrain = async (ms: number): Promise<boolean> => await new Promise(resolve => {
    const timer = setTimeout(() => resolve(false), ms)
    r.onDrain(() => { clearTimeout(timer); resolve(true) })
  })
  let accepted = 0
  let stuck = false
  for (let i = 0; i < 64; i++) {
    const chunk = Buffer.from(randomBytes(16384).toString('hex'))
    input.push(chunk)
    accepted++
    if (!r.write(chunk) && !(await waitDrain(1000))) { stuck = true; break }
  }
  t.ok(stuck && accepted < 16, `the producer is held after ${accepted} of 64 chunks`)
  // The inner reply drains again: everything arrives, and decodes to the input.
  const pump = setInterval(() => inner.drain(), 5)
  for (let i = accepted; i < 64; i++) {
    const chunk = Buffer.from(randomBytes(16384).toString('hex'))
    input.push(chunk)
    if (!r.write(chunk)) await waitDrain(5000)
  }
  r.end()
  const deadline = Date.now() + 10_000
  while (!inner.ended && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
  clearInterval(pump)
  t.ok(gunzipSync(Buffer.concat(inner.body)).equals(Buffer.concat(input)), 'the output decodes to the input')
  const passthrough = memoryReply(100)
  const p = compressingReply(passthrough, settings, { method: 'GET', acceptEncoding: 'gzip' })
  p.head(200, [['content-type', 'text/plain'], ['content-encoding', 'br']])
  t.same(passthrough.headers, [['content-type', 'text/plain'], ['content-encoding', 'br']], 'already encoded: untouched, no Vary')
})

t.test('error pages: exact status before class, first entry wins', async t => {
  const pages = compileErrorPages([
    { status: '5xx', body: 'class', content_type: 'text/plain', upstream: false },
    { status: [502, 504], body: 'exact', content_type: 'text/plain', upstream: true },
    { status: 502, body: 'later', content_type: 'text/plain', upstream: false }
  ], undefined)
  t.equal(pages.find(502)?.body.toString(), 'exact')
  t.equal(pages.find(503)?.body.toString(), 'class')
  t.equal(pages.find(404), undefined)
})
