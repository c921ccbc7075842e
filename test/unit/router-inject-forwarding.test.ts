import t from 'tap'
import { mount } from '../helpers/inject.js'
import { echoUpstream, type Echoed } from '../helpers/upstreams.js'

/**
 * Host rules of UAP routes and the headers portico edits on the way upstream, through the
 * in-process harness (no binary: these are router decisions). End-to-end smokes of the same
 * families: test/e2e/uap-apps.test.ts, uap-isolation.test.ts (UAP), access-log.test.ts (trusted proxy).
 */

/** Hop-by-hop fields an upstream sends that must not reach the client. */
const HOP = { connection: 'x-upstream-hop', 'x-upstream-hop': 'drop me', 'keep-alive': 'timeout=97' }

t.test('UAP to a loopback instance: host labels, allowlist, forwarded and hop-by-hop headers', async t => {
  const app = await echoUpstream(t, '127.0.0.2', HOP)
  const refused = await echoUpstream(t, '127.0.0.3')
  const m = await mount(t, `
  - name: uap
    uap: { domain: uap.test, allow: [127.0.0.2/32], ports: ["${app.port}", "${refused.port}"] }`)
  const host = `http-127-0-0-2-${app.port}.uap.test`
  const r = await m.send(host.toUpperCase(), { path: '/lab/tree?token=a%2Fb&x=%20y', headers: { connection: 'keep-alive, x-drop', 'x-drop': '1', 'x-keep': '2' } })
  t.equal(r.status, 200)
  const echoed = JSON.parse(r.body) as Echoed
  t.equal(echoed.url, '/lab/tree?token=a%2Fb&x=%20y', 'path and query byte for byte')
  t.equal(echoed.headers.host, host.toUpperCase(), 'Host passed unchanged')
  t.equal(echoed.headers['x-forwarded-proto'], 'http')
  t.equal(echoed.headers['x-forwarded-for'], '127.0.0.1')
  t.equal(echoed.headers['x-forwarded-host'], host.toUpperCase())
  t.match(echoed.headers.forwarded, /^for=127\.0\.0\.1;proto=http;host="/)
  t.ok(echoed.headers['x-request-id'])
  t.equal(echoed.headers['x-drop'], undefined, 'header named in Connection dropped')
  t.equal(echoed.headers['x-keep'], '2')
  t.equal(r.headers['x-upstream-hop'], undefined, 'response header named in Connection dropped')
  t.not(r.headers['keep-alive'], 'timeout=97', "upstream's keep-alive not passed on (node:http writes its own)")

  // Denied: outside the CIDR. The listener on 127.0.0.3 must see no connection.
  const denied = await m.send(`http-127-0-0-3-${refused.port}.uap.test`)
  t.equal(denied.status, 403)
  t.match(denied.body, /outside the allowed networks/)
  t.equal((await m.send(`http-127-0-0-2-${app.port + 1}.uap.test`)).status, 403, 'a port outside the list')
  for (const h of ['999-1-1-1-80.uap.test', `http-127-0-0-02-${app.port}.uap.test`, `x.http-127-0-0-2-${app.port}.uap.test`]) {
    t.equal((await m.send(h)).status, 403, h)
  }
  t.equal(refused.connections(), 0, 'no connection attempted to a denied target')
  t.equal((await m.send('other.test')).status, 404)
  const json = await m.send('999-1-1-1-80.uap.test', { headers: { accept: 'application/json' } })
  t.match(JSON.parse(json.body), { status: 403, request_id: String })
})

t.test('trusted proxies: forwarding headers replaced from others, extended from a trusted one', async t => {
  const app = await echoUpstream(t, '127.0.0.7')
  const routes = `
  - host: "*"
    proxy: { upstreams: ["${app.origin}"] }`
  const spoof = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', forwarded: 'for=203.0.113.9' }
  const headersVia = async (extra: string): Promise<Echoed['headers']> =>
    (JSON.parse((await (await mount(t, routes, extra)).send('a.test', { headers: spoof })).body) as Echoed).headers
  let h = await headersVia('')
  t.equal(h['x-forwarded-for'], '127.0.0.1', 'spoofed XFF replaced')
  t.equal(h['x-forwarded-proto'], 'http')
  t.equal(h.forwarded, 'for=127.0.0.1;proto=http;host="a.test"')
  h = await headersVia('trusted_proxies: [127.0.0.1/32]')
  t.equal(h['x-forwarded-for'], '203.0.113.9, 127.0.0.1', 'trusted XFF extended')
  t.equal(h['x-forwarded-proto'], 'https')
  t.equal(h.forwarded, 'for=203.0.113.9, for=127.0.0.1;proto=http;host="a.test"')
})
