import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import { startPortico } from '../helpers/portico.js'
import { rawExchange, responses } from '../helpers/raw-socket.js'

/**
 * The edge policy (fixed answers, redirects, CORS, response edits, cookie scoping, body limits,
 * error pages, HTTP/1.0) is one implementation that node:http and the engine both call: the same
 * requests sent to an `engine: node` and an `engine: portico` listener of one portico get the
 * same answers, field for field. Only what is the transport's own may differ (Date, Connection,
 * Keep-Alive, framing) and the request id.
 */
async function upstream (): Promise<{ port: number, close: () => void }> {
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(200, [
        ['Server', 'upstream/1.0'], ['X-Powered-By', 'test'], ['Vary', 'Accept-Encoding'],
        ['Access-Control-Allow-Origin', 'https://evil.example'], ['Set-Cookie', 'a=1; Domain=uap.test; Path=/'], ['Set-Cookie', 'b=2'],
        ['X-Up', 'yes'], ['Content-Type', 'text/plain']
      ])
      res.end(`${req.method ?? ''} ${req.url ?? ''}`)
    })
  })
  server.listen(0, '127.0.0.2')
  await once(server, 'listening')
  return { port: (server.address() as net.AddressInfo).port, close: () => { server.closeAllConnections(); server.close() } }
}

/** Status, sorted fields (transport-owned ones left out, request ids masked) and body of each answer. */
function normalized (text: string, head: boolean): string[] {
  const own = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding'])
  return responses(text, head ? [0] : []).map(r => {
    const lines = r.head.split('\r\n')
    const fields = lines.slice(1).map(l => {
      const i = l.indexOf(':')
      return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()] as const
    }).filter(([k]) => !own.has(k)).map(([k, v]) => `${k}: ${k === 'x-request-id' ? 'RID' : v}`).sort()
    return [lines[0] as string, ...fields, r.body.replace(/request id: \S+|"request_id":"[^"]+"/g, 'RID')].join('\n')
  })
}

t.test('node:http and the engine answer every policy case the same way', async t => {
  const up = await upstream()
  t.teardown(() => up.close())
  const origin = `http://127.0.0.2:${up.port}`
  const p = await startPortico({
    config: `
state_dir: \${STATE}
admin: null
log: { level: info, access: false }
listeners:
  - { name: node, address: "127.0.0.1:0", engine: node }
  - { name: engine, address: "127.0.0.1:0", engine: portico }
routes:
  - { name: fixed, host: fixed.test, respond: { status: 201, body: "fixed answer", headers: { x-fixed: "1" } } }
  - { name: moved, host: moved.test, redirect: { to: "https://elsewhere.test{uri}", status: 302 } }
  - name: edits
    host: edits.test
    response_headers: { remove: [server, x-powered-by], set: { x-content-type-options: nosniff } }
    proxy: { upstreams: ["${origin}"] }
  - name: cors
    host: cors.test
    cors: { origins: ["https://app.example"], credentials: true, expose_headers: [x-up], deny_disallowed: true }
    proxy: { upstreams: ["${origin}"] }
  - { name: small, host: small.test, proxy: { upstreams: ["${origin}"], max_body_size: 10 } }
  - { name: plain, host: plain.test, proxy: { upstreams: ["${origin}"] } }
  - { name: uap, uap: { domain: uap.test, allow: [127.0.0.0/8] } }
`
  })
  t.teardown(() => p.stop('SIGKILL'))
  const uapHost = `http-127-0-0-2-${up.port}.uap.test`
  const cases: Array<[string, string, RegExp?]> = [
    ['fixed answer', 'GET / HTTP/1.1\r\nHost: fixed.test\r\n', /^HTTP\/1\.1 201 Created\n[^]*x-fixed: 1\n[^]*fixed answer$/],
    ['fixed answer, HEAD', 'HEAD / HTTP/1.1\r\nHost: fixed.test\r\n'],
    ['fixed answer to a POST with a body', 'POST / HTTP/1.1\r\nHost: fixed.test\r\nContent-Length: 3\r\n\r\nabc'],
    ['redirect', 'GET /a?b=1 HTTP/1.1\r\nHost: moved.test\r\n'],
    ['no route', 'GET / HTTP/1.1\r\nHost: none.test\r\n'],
    ['no route, JSON error', 'GET / HTTP/1.1\r\nHost: none.test\r\nAccept: application/json\r\n'],
    ['response_headers edits', 'GET /e HTTP/1.1\r\nHost: edits.test\r\n', /^(?![^]*\nserver:)[^]*x-content-type-options: nosniff/],
    ['CORS answer', 'GET /c HTTP/1.1\r\nHost: cors.test\r\nOrigin: https://app.example\r\n', /access-control-allow-origin: https:\/\/app\.example\n[^]*vary: Accept-Encoding, Origin/],
    ['CORS preflight', 'OPTIONS /c HTTP/1.1\r\nHost: cors.test\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: PUT\r\n'],
    ['CORS preflight, origin refused', 'OPTIONS /c HTTP/1.1\r\nHost: cors.test\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: PUT\r\n'],
    ['CORS, origin refused', 'GET /c HTTP/1.1\r\nHost: cors.test\r\nOrigin: https://evil.example\r\n'],
    ['413 by Content-Length', 'POST / HTTP/1.1\r\nHost: small.test\r\nContent-Length: 20\r\n\r\n01234567890123456789'],
    ['413 on a chunked body', 'POST / HTTP/1.1\r\nHost: small.test\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n01234567890123456789\r\n0\r\n\r\n', /^HTTP\/1\.1 413 /],
    ['body under the limit', 'POST /ok HTTP/1.1\r\nHost: small.test\r\nContent-Length: 5\r\n\r\nhello'],
    ['UAP cookie scoping', `GET /u HTTP/1.1\r\nHost: ${uapHost}\r\n`, /set-cookie: a=1; Path=\/\nset-cookie: b=2/],
    ['HTTP/1.0', 'GET /old HTTP/1.0\r\nHost: plain.test\r\n'],
    ['HTTP/1.0 fixed answer', 'GET / HTTP/1.0\r\nHost: fixed.test\r\n']
  ]
  for (const [name, request, expected] of cases) {
    const text = request.includes('\r\n\r\n') ? request.replace('\r\n', '\r\nConnection: close\r\n') : `${request}Connection: close\r\n\r\n`
    const [viaNode, viaEngine] = await Promise.all([rawExchange(p.ports.node as number, text, 5000), rawExchange(p.ports.engine as number, text, 5000)])
    const head = request.startsWith('HEAD')
    const a = normalized(viaNode.text, head)
    t.equal(a.length, 1, `${name}: node answered once`)
    if (expected !== undefined) t.match(a[0], expected, `${name}: the answer is what the policy says`)
    t.same(normalized(viaEngine.text, head), a, `${name}: the engine answers as node:http does`)
    // node:http writes `Connection: close`, the engine `connection: close`: this answer is the engine's own.
    t.match(viaEngine.text, /\r\nconnection: close\r\n/, `${name}: written by the engine, not handed to node:http`)
  }
})

t.test('the engine answers policy cases itself, on the same connection as proxied requests, in order', async t => {
  const up = await upstream()
  t.teardown(() => up.close())
  const p = await startPortico({
    config: `
state_dir: \${STATE}
admin: null
log: { level: info, access: false }
listeners: [{ name: engine, address: "127.0.0.1:0", engine: portico }]
routes:
  - { name: fixed, host: fixed.test, respond: { status: 200, body: "fixed" } }
  - { name: edits, host: edits.test, response_headers: { set: { x-edit: "1" } }, proxy: { upstreams: ["http://127.0.0.2:${up.port}"] } }
  - { name: plain, host: plain.test, proxy: { upstreams: ["http://127.0.0.2:${up.port}"] } }
`
  })
  t.teardown(() => p.stop('SIGKILL'))
  const pipeline = 'GET / HTTP/1.1\r\nHost: fixed.test\r\n\r\n' +
    'POST / HTTP/1.1\r\nHost: fixed.test\r\nContent-Length: 4\r\n\r\nbody' +
    'GET /1 HTTP/1.1\r\nHost: edits.test\r\n\r\n' +
    'GET / HTTP/1.1\r\nHost: none.test\r\n\r\n' +
    'GET /2 HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n'
  const r = await rawExchange(p.ports.engine as number, pipeline, 5000)
  const rs = responses(r.text)
  t.same(rs.map(x => x.status), ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 404 Not Found', 'HTTP/1.1 200 OK'], 'five answers in order')
  t.same(rs.map(x => x.body.split('\n')[0]), ['fixed', 'fixed', 'GET /1', '404 Not Found: no route for host none.test', 'GET /2'])
  t.match(rs[2]?.head, /\r\nx-edit: 1\r\n/, 'the route\'s response edit')
  // node:http announces its keep-alive timeout on every answer; the engine does not: nothing here went to node.
  t.notMatch(r.text, /keep-alive: timeout/i, 'no answer written by node:http')
  t.ok(r.closedAfterMs !== undefined, 'closed after Connection: close')
})
