import t from 'tap'
import { mount } from '../helpers/inject.js'
import { echoUpstream } from '../helpers/upstreams.js'
import { rawExchange } from '../helpers/raw-socket.js'

/**
 * Router behaviour through the in-process harness (test/helpers/inject.ts): the snapshot is built
 * from config text as the daemon builds it, the handler serves real sockets, no binary is spawned.
 */

t.test('CORS: preflight answered locally, allowed origins echoed, others not', async t => {
  const up = await echoUpstream(t)
  const m = await mount(t, `
  - name: api
    host: api.test
    cors: { origins: ["https://app.test"], credentials: true, max_age: 10m }
    proxy: { upstreams: ["${up.origin}"] }`)
  const pre = await m.send('api.test', { method: 'OPTIONS', headers: { origin: 'https://app.test', 'access-control-request-method': 'PUT' } })
  t.equal(pre.status, 204)
  t.equal(pre.headers['access-control-allow-origin'], 'https://app.test')
  t.equal(pre.headers['access-control-allow-credentials'], 'true')
  t.equal(pre.headers['access-control-max-age'], '600')
  t.equal(m.access.at(-1)?.upstream, undefined, 'never forwarded')
  const get = await m.send('api.test', { headers: { origin: 'https://app.test' } })
  t.equal(get.status, 200)
  t.equal(get.headers['access-control-allow-origin'], 'https://app.test')
  t.match(get.headers.vary, /origin/i)
  const evil = await m.send('api.test', { headers: { origin: 'https://evil.test' } })
  t.equal(evil.headers['access-control-allow-origin'], undefined, 'a foreign origin gets no CORS headers')
})

t.test('413: Content-Length and chunked bodies over max_body_size (to an IPv6 literal upstream)', async t => {
  const up = await echoUpstream(t, '::1')
  const m = await mount(t, `  - { host: limit.test, proxy: { upstreams: ["${up.origin}"], max_body_size: 1k } }`)
  const small = await m.send('limit.test', { method: 'POST', body: Buffer.alloc(1024) })
  t.equal((JSON.parse(small.body) as { bytes: number }).bytes, 1024, 'a body at the limit reaches the upstream on ::1')
  const big = await m.send('limit.test', { method: 'POST', body: Buffer.alloc(1025) })
  t.equal(big.status, 413, 'Content-Length over the limit')
  t.equal(m.access.at(-1)?.bytes, Buffer.byteLength(big.body), 'the access entry counts the error body')
  const chunked = await m.send('limit.test', { method: 'POST', headers: { 'transfer-encoding': 'chunked' }, body: [Buffer.alloc(800), Buffer.alloc(800)] })
  t.equal(chunked.status, 413, 'chunked body over the limit')
})

t.test('response header edits: set and remove on proxied responses', async t => {
  const up = await echoUpstream(t, '127.0.0.3', { 'x-powered-by': 'app/1', server: 'app' })
  const m = await mount(t, `
  - host: edit.test
    response_headers: { set: { X-Frame-Options: DENY }, remove: [X-Powered-By] }
    proxy: { upstreams: ["${up.origin}"] }`)
  const r = await m.send('edit.test')
  t.equal(r.headers['x-frame-options'], 'DENY')
  t.equal(r.headers['x-powered-by'], undefined)
  t.equal(r.headers.server, 'app', 'other upstream headers pass')
})

t.test('Host rules: repeated or missing Host is a 400; an absolute-form target brings its own host', async t => {
  const up = await echoUpstream(t)
  const m = await mount(t, `
  - { host: a.test, respond: { body: a } }
  - { host: b.test, proxy: { upstreams: ["${up.origin}"] } }`)
  const twice = await rawExchange(m.port, 'GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n', 300)
  t.match(twice.text, /^HTTP\/1\.1 400 /)
  const none = await rawExchange(m.port, 'GET / HTTP/1.0\r\n\r\n', 300)
  t.match(none.text, /^HTTP\/1\.1 400 /)
  const absolute = await rawExchange(m.port, 'GET http://b.test/x?y=1 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n', 500)
  t.match(absolute.text, /^HTTP\/1\.1 200 /)
  // The echo's JSON, possibly in chunked framing.
  t.match(absolute.text, /"url":"\/x\?y=1"/, 'the origin-form path upstream')
  t.match(absolute.text, /"host":"b\.test"/, 'routed and forwarded by the target\'s authority')
})
