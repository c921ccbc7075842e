import t from 'tap'
import { mount } from '../helpers/inject.js'
import { httpUpstream } from '../helpers/upstreams.js'

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
