import t from 'tap'
import { mount } from '../helpers/inject.js'

/**
 * Issue 18.3: `bytes` in the access entry counts portico's own error bodies — on both HTTP/1.1
 * transports (the engine writes its 502/504 answers from the connection, not the shared policy).
 */
t.test('access bytes count portico\'s own answers: no route (404), upstream refused (502), body too large (413)', async t => {
  for (const engine of [true, false]) {
    const name = engine ? 'engine' : 'node:http'
    const m = await mount(t, `  - name: dead
    host: [dead.test]
    proxy: { upstreams: ["http://127.0.0.2:9"], max_body_size: 10 }`, '', { engine })
    const cases = [
      { host: 'none.test', path: '/a', status: 404 },
      { host: 'dead.test', path: '/b', status: 502 },
      { host: 'dead.test', path: '/c', status: 413, method: 'POST', body: Buffer.alloc(20, 120) }
    ]
    for (const c of cases) {
      const r = await m.send(c.host, { path: c.path, method: c.method, body: c.body })
      t.equal(r.status, c.status, `${name} ${c.path}`)
      const entry = m.access.find(e => e.path === c.path)
      t.ok(r.body.length > 0, `${name} ${c.path}: a body`)
      t.equal(entry?.bytes, Buffer.byteLength(r.body), `${name} ${c.status}: bytes = the body portico wrote`)
    }
  }
})
