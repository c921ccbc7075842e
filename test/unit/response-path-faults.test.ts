import t from 'tap'
import http from 'node:http'
import { mount } from '../helpers/inject.js'
import { httpUpstream } from '../helpers/upstreams.js'
import { rawExchange } from '../helpers/raw-socket.js'

/**
 * Issue 25's class fix on both HTTP/1.1 transports: an exception of portico's own while it
 * relays a response (here a fault injected into the route's compiled response edits, which run
 * on the upstream's head) ends as a 502 when nothing was sent yet, reported as a fault (logged
 * at error level by the daemon) and logged as 502 with the reason; the listener goes on serving.
 * On the engine such an exception used to escape into the upstream socket's data handler.
 */
t.test('an exception while relaying a response: 502, a fault report, the true status logged', async t => {
  const up = await httpUpstream(t, (_req, res) => { res.setHeader('server', 'app'); res.end('fine') })
  for (const engine of [true, false]) {
    const name = engine ? 'engine' : 'node:http'
    const m = await mount(t, `  - name: app
    host: [app.test]
    proxy: { upstreams: ["http://127.0.0.2:${up.port}"] }
    response_headers: { remove: [server] }`, '', { engine })
    const route = m.view.routes.routes[0] as unknown as { responseHeaders: unknown }
    const edits = route.responseHeaders
    route.responseHeaders = { set: [], get remove (): string[] { throw new Error('editor bug') } }

    const r = await m.send('app.test', { path: '/x' })
    t.equal(r.status, 502, `${name}: 502, nothing had been sent`)
    t.notOk(r.body.includes('fine'), `${name}: no upstream bytes`)
    t.match(m.faults.map(e => e.message), ['editor bug'], `${name}: reported as a fault (error level)`)
    const entry = m.access.find(e => e.path === '/x')
    t.match(entry, { status: 502, error: /editor bug/ }, `${name}: logged as 502 with the reason`)

    route.responseHeaders = edits
    const again = await m.send('app.test', { path: '/y' })
    t.same([again.status, again.body, again.headers.server], [200, 'fine', undefined], `${name}: still serving`)
  }
})

/** A route whose responses pass through a Reply (compression) on the engine: the same, and the connection goes on. */
t.test('an exception while a response is handed to the route\'s Reply: 502, then the next request is served', async t => {
  const up = await httpUpstream(t, (_req, res) => { res.setHeader('content-type', 'text/plain'); res.end('x'.repeat(4096)) })
  for (const engine of [true, false]) {
    const name = engine ? 'engine' : 'node:http'
    const m = await mount(t, `  - name: app
    host: [app.test]
    proxy: { upstreams: ["http://127.0.0.2:${up.port}"] }
    response_headers: { remove: [server] }
    compress: {}`, '', { engine })
    const route = m.view.routes.routes[0] as unknown as { responseHeaders: unknown }
    const edits = route.responseHeaders
    route.responseHeaders = { set: [], get remove (): string[] { throw new Error('editor bug') } }
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    t.teardown(() => agent.destroy())
    const r = await m.send('app.test', { path: '/x', agent, headers: { 'accept-encoding': 'gzip' }, timeoutMs: 5000 })
    t.equal(r.status, 502, `${name}: 502`)
    route.responseHeaders = edits
    const again = await m.send('app.test', { path: '/y', agent, timeoutMs: 5000 })
    t.same([again.status, again.body.length], [200, 4096], `${name}: the next request on the connection is served`)
    t.match(m.faults.map(e => e.message), ['editor bug'], `${name}: reported`)
  }
})

/**
 * The same for upgrades (websockets): a throw while the upgrade is opened or prepared answers
 * 502 with the request id and is reported; the engine used to let it escape into the socket's
 * data handler or close without an answer, the node path to leave an unhandled rejection and
 * a client waiting.
 */
t.test('an exception while an upgrade is opened or prepared: 502, a fault report', async t => {
  const head = 'GET /ws HTTP/1.1\r\nhost: app.test\r\nconnection: upgrade\r\nupgrade: websocket\r\n' +
    'sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
  for (const engine of [true, false]) {
    const name = engine ? 'engine' : 'node:http'
    const m = await mount(t, `  - name: app
    host: [app.test]
    proxy: { upstreams: ["http://127.0.0.2:9"] }`, '', { engine })
    const view = m.view as unknown as Record<string, unknown>
    const throwing = async (key: string, message: string): Promise<string> => {
      const value = view[key]
      Object.defineProperty(view, key, { configurable: true, get () { throw new Error(message) } })
      try { return (await rawExchange(m.port, head, 3000)).text } finally {
        Object.defineProperty(view, key, { configurable: true, writable: true, value })
      }
    }
    // The upstream connection's settings are looked up once the upgrade is let through.
    t.match(await throwing('dispatchers', 'pool bug'), /^HTTP\/1\.1 502 Bad Gateway\r\n[^]*x-request-id: /, `${name}: preparing the upstream request throws: 502`)
    t.match(m.access.find(e => e.path === '/ws'), { status: 502, error: /pool bug/ }, `${name}: logged as 502`)
    t.match(await throwing('names', 'table bug'), /^HTTP\/1\.1 502 Bad Gateway\r\n/, `${name}: opening the request throws: 502`)
    t.same(m.faults.map(e => e.message), ['pool bug', 'table bug'], `${name}: both reported as faults`)
  }
})
