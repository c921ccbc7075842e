import t, { type Test } from 'tap'
import http from 'node:http'
import https from 'node:https'
import http2 from 'node:http2'
import net from 'node:net'
import { startPortico, testConfig, type Portico } from '../helpers/portico.js'
import { httpUpstream, serve } from '../helpers/upstreams.js'
import { rawExchange, responses } from '../helpers/raw-socket.js'

/**
 * `listeners[].engine: portico`: HTTP/1.1 served by portico's own engine, end to end with the
 * real binary. The engine shows itself where node:http would answer differently: the upstream's
 * reason phrase passes through (node:http would write its own). Unknown methods get 501 on both
 * paths (engine-parity.test.ts).
 */
interface Upstream { port: number, connections: () => number, bodies: string[] }

async function upstream (t: Test): Promise<Upstream> {
  const bodies: string[] = []
  const { port, connections } = await httpUpstream(t, (req, res) => {
    let body = ''
    req.setEncoding('latin1')
    req.on('data', (d: string) => { body += d })
    req.on('end', () => {
      bodies.push(body)
      switch (req.url) {
        case '/chunked': res.writeHead(200, 'Streamed'); res.write('a'); res.write('bc'); res.end('d'); return
        case '/204': res.writeHead(204, { 'x-kind': 'empty' }).end(); return
        case '/304': res.writeHead(304, { etag: '"x"' }).end(); return
        case '/cookie': res.writeHead(200, 'Cookie Jar', [['Set-Cookie', 'a=1; Domain=uap.test; Path=/'], ['Set-Cookie', 'b=2'], ['Content-Length', '0']]).end(); return
        case '/hop': res.writeHead(200, 'Fine', { connection: 'x-hop', 'x-hop': 'no', 'keep-alive': 'timeout=5', 'x-latin': 'caf\u00e9', 'content-length': 2 }).end('ok'); return
        default:
          res.writeHead(200, 'Fine Indeed', { 'content-type': 'application/json' })
          res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body, latin: Buffer.from(String(req.headers['x-latin'] ?? ''), 'latin1').toString('hex') }))
      }
    })
  })
  return { port, connections, bodies }
}

/**
 * A raw upstream on 127.0.0.3: an upgrade request gets `101 Engine Tunnel` and an echo of every
 * later byte (upper-cased); anything else a close-delimited body.
 */
async function closeDelimited (t: Test): Promise<{ port: number, heads: string[] }> {
  const heads: string[] = []
  const server = net.createServer(s => {
    s.once('data', (d: Buffer) => {
      const text = d.toString('latin1')
      heads.push(text)
      if (!/\r\nupgrade: /i.test(text)) { s.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil close'); return }
      s.write('HTTP/1.1 101 Engine Tunnel\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n')
      const rest = d.subarray(d.indexOf('\r\n\r\n') + 4)
      if (rest.length > 0) s.write(rest.toString('latin1').toUpperCase())
      s.on('data', (x: Buffer) => s.write(x.toString('latin1').toUpperCase()))
    })
    s.on('error', () => {})
  })
  return { port: (await serve(t, server, '127.0.0.3')).port, heads }
}

async function engineProxy (t: Test, up: number, raw: number): Promise<Portico> {
  const p = await startPortico({
    config: testConfig({
      listeners: [{ name: 'http', engine: 'portico' }],
      routes: `
  - { name: fixed, host: fixed.test, respond: { status: 200, body: "fixed answer" } }
  - { name: raw, host: raw.test, proxy: { upstreams: ["http://127.0.0.3:${raw}"] } }
  - { name: down, host: down.test, proxy: { upstreams: ["http://127.0.0.4:1"] } }
  - { name: uap, uap: { domain: uap.test, allow: [127.0.0.0/8] } }
  - { name: app, proxy: { upstreams: ["http://127.0.0.2:${up}"] } }`
    })
  })
  t.teardown(() => p.stop('SIGKILL'))
  return p
}

t.test('the engine serves proxied HTTP/1.1: framing, pipelining, keep-alive upstream, fixed answers on the same connection', async t => {
  const up = await upstream(t)
  const raw = await closeDelimited(t)
  const p = await engineProxy(t, up.port, raw.port)
  const port = p.ports.http as number

  // Pipelined in one write: Content-Length body, chunked body (passed through as chunked), bodiless.
  const pipeline = 'POST /a?x=1 HTTP/1.1\r\nHost: app.test\r\nX-Latin: caf\u00e9\r\nContent-Length: 5\r\n\r\nhello' +
    'PUT /b HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n' +
    'GET /chunked HTTP/1.1\r\nHost: app.test\r\n\r\n' +
    'HEAD /c HTTP/1.1\r\nHost: app.test\r\n\r\n' +
    'GET /204 HTTP/1.1\r\nHost: app.test\r\n\r\n' +
    'GET /304 HTTP/1.1\r\nHost: app.test\r\n\r\n' +
    'GET /hop HTTP/1.1\r\nHost: app.test\r\n\r\n' +
    'GET /last HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n'
  const r = await rawExchange(port, pipeline, 5000)
  const rs = responses(r.text, [3])
  t.same(rs.map(x => x.status), [
    'HTTP/1.1 200 Fine Indeed', 'HTTP/1.1 200 Fine Indeed', 'HTTP/1.1 200 Streamed', 'HTTP/1.1 200 Fine Indeed',
    'HTTP/1.1 204 No Content', 'HTTP/1.1 304 Not Modified', 'HTTP/1.1 200 Fine', 'HTTP/1.1 200 Fine Indeed'
  ], 'eight answers in order, reason phrases from the upstream (the engine, not node:http, wrote them)')
  t.ok(r.closedAfterMs !== undefined, 'closed after the request with Connection: close')
  const first = JSON.parse(rs[0]?.body ?? '{}') as { method: string, url: string, headers: Record<string, string>, body: string, latin: string }
  t.match(first, { method: 'POST', url: '/a?x=1', body: 'hello', headers: { host: 'app.test', 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'app.test' } })
  t.match(first.headers['x-request-id'], /\S/, 'a request id goes upstream')
  t.equal(first.latin, '636166e9', 'an obs-text byte in a request field value reaches the upstream as the same byte')
  // node's upstream sends 'é' as UTF-8 (C3 A9); read here as latin1, those two bytes unchanged are 'Ã©'.
  t.match(rs[6]?.head ?? '', /\r\nx-latin: caf\u00c3\u00a9\r\n/, 'and response field bytes reach the client unchanged')
  const second = JSON.parse(rs[1]?.body ?? '{}') as { body: string, headers: Record<string, string> }
  t.equal(second.body, 'abcde', 'chunked request body arrives whole')
  t.equal(second.headers['transfer-encoding'], 'chunked')
  t.equal(rs[2]?.body, 'abcd', 'chunked response passed through')
  t.equal(rs[3]?.body, '', 'HEAD: no body')
  t.notMatch(rs[6]?.head ?? '', /x-hop|keep-alive/i, 'hop-by-hop response headers dropped')
  t.equal(rs[6]?.body, 'ok')
  t.equal(up.connections(), 1, 'all eight went over one upstream keep-alive connection')

  // A fixed answer after a proxied request: both from the engine (the upstream's reason phrase after it).
  const mixed = await rawExchange(port, 'GET /x HTTP/1.1\r\nHost: app.test\r\n\r\nGET / HTTP/1.1\r\nHost: fixed.test\r\n\r\n' +
    'GET /y HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n', 5000)
  const ms = responses(mixed.text)
  t.same(ms.map(x => x.status), ['HTTP/1.1 200 Fine Indeed', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 Fine Indeed'], 'proxied, answered, proxied: all by the engine')
  t.equal(ms[1]?.body, 'fixed answer')

  const cd = responses((await rawExchange(port, 'GET / HTTP/1.1\r\nHost: raw.test\r\n\r\n', 5000)).text)
  t.match(cd[0]?.head ?? '', /\r\nconnection: close/i, 'a close-delimited response closes the client connection too')
  t.equal(cd[0]?.body, 'until close')

  const uapRaw = await rawExchange(port, `GET /cookie HTTP/1.1\r\nHost: http-127-0-0-2-${up.port}.uap.test\r\nConnection: close\r\n\r\n`, 5000)
  const uap = responses(uapRaw.text)
  t.match(uap[0]?.head ?? '', /^HTTP\/1\.1 200 Cookie Jar\r\n/, 'a UAP route is served by the engine')
  t.match(uap[0]?.head ?? '', /\r\nset-cookie: a=1; Path=\/\r\nset-cookie: b=2\r\n/i, 'cookie scoping: the Domain reaching beyond the host is removed')

  const down = responses((await rawExchange(port, 'GET / HTTP/1.1\r\nHost: down.test\r\nConnection: close\r\n\r\n', 5000)).text)
  t.match(down[0]?.status, /^HTTP\/1\.1 502 /, 'upstream refused: 502')
  t.match(down[0]?.body, /upstream refused the connection\nrequest id: \S+/)
  const json = responses((await rawExchange(port, 'GET / HTTP/1.1\r\nHost: down.test\r\nAccept: application/json\r\nConnection: close\r\n\r\n', 5000)).text)
  t.match(JSON.parse(json[0]?.body ?? '{}'), { error: 'Bad Gateway', status: 502, reason: 'upstream refused the connection' }, 'JSON error page for API clients, as on the node path')
})

t.test('the engine refuses what RFC 9112 forbids, before any upstream sees it', async t => {
  const up = await upstream(t)
  const raw = await closeDelimited(t)
  const p = await engineProxy(t, up.port, raw.port)
  const port = p.ports.http as number
  const cases: Array<[string, string, RegExp]> = [
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: app.test\r\nX-A: 1\r\n 2\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['CL + TE', 'POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['TE gzip, chunked', 'POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['space before colon', 'GET / HTTP/1.1\r\nHost : app.test\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['bad chunk size', 'POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /HTTP\/1\.1 400 /],
    ['unknown method', 'BREW / HTTP/1.1\r\nHost: app.test\r\n\r\n', /^HTTP\/1\.1 501 /],
    ['head too large', `GET / HTTP/1.1\r\nHost: app.test\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`, /^HTTP\/1\.1 431 /]
  ]
  for (const [name, text, status] of cases) {
    const r = await rawExchange(port, text, 3000)
    t.match(r.text, status, name)
    t.ok(r.closedAfterMs !== undefined, `${name}: connection closed`)
  }
  t.same(up.bodies, [], 'no refused request reached the upstream (the bad chunk size came after a head: its body never completed)')
})

t.test('upgrades: the engine splices client and upstream sockets; upgrades to routes that do not proxy are refused as on the node path', async t => {
  const up = await upstream(t)
  const raw = await closeDelimited(t)
  const p = await engineProxy(t, up.port, raw.port)
  const port = p.ports.http as number
  const r = await rawExchange(port, async s => {
    s.write('GET /chat HTTP/1.1\r\nHost: raw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly ')
    await new Promise(resolve => setTimeout(resolve, 300))
    s.write('later')
  }, 1500)
  t.match(r.text, /^HTTP\/1\.1 101 Engine Tunnel\r\n/, 'the upstream\'s 101 passed on by the engine (node:http would write its own reason)')
  t.match(r.text, /\r\n\r\nEARLY LATER$/, 'bytes after the head and later bytes go through the tunnel both ways')
  t.match(raw.heads[0], /^GET \/chat HTTP\/1\.1\r\n/)
  t.match(raw.heads[0], /\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n/i, 'upgrade fields sent upstream')
  t.match(raw.heads[0], /\r\nx-forwarded-for: 127\.0\.0\.1\r\n/, 'forwarding headers as for any request')
  const refused = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: fixed.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n', 3000)
  t.match(refused.text, /^HTTP\/1\.1 404 Not Found\r\n/, 'an upgrade to a fixed-answer route is refused (404, as the node path\'s upgrade handler answers)')
})

t.test('TLS listener on the engine: HTTP/1.1 served by the engine, HTTP/2 by node:http2', async t => {
  const up = await upstream(t)
  const p = await startPortico({
    config: testConfig({
      listeners: [{ name: 'https', tls: true, engine: 'portico' }],
      selfSigned: ['app.test'],
      routes: `  - { name: app, hsts: "max-age=60", proxy: { upstreams: ["http://127.0.0.2:${up.port}"] } }`
    })
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.https as number
  const h1 = await new Promise<{ status: number, message: string, hsts: string | undefined, proto: string | undefined }>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path: '/tls', headers: { host: 'app.test' }, servername: 'app.test', agent: false, rejectUnauthorized: false }, res => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, message: res.statusMessage ?? '', hsts: res.headers['strict-transport-security'] as string | undefined, proto: (JSON.parse(body) as { headers: Record<string, string> }).headers['x-forwarded-proto'] }))
    }).on('error', reject)
  })
  t.same(h1, { status: 200, message: 'Fine Indeed', hsts: 'max-age=60', proto: 'https' }, 'h1 over TLS through the engine (upstream reason phrase), HSTS added, proto https')
  const session = http2.connect(`https://127.0.0.1:${port}`, { servername: 'app.test', rejectUnauthorized: false })
  t.teardown(() => session.close())
  const h2 = await new Promise<number>((resolve, reject) => {
    const s = session.request({ ':path': '/h2', ':authority': 'app.test' })
    s.on('response', h => { s.resume(); s.on('end', () => resolve(Number(h[':status']))) })
    s.on('error', reject)
  })
  t.equal(h2, 200, 'h2 sessions still go to the http2 server')
})
