import t, { type Test } from 'tap'
import tls from 'node:tls'
import https from 'node:https'
import { join } from 'node:path'
import { ensureSelfSigned } from '../../src/tls/index.js'
import { makeTempDir, startPortico, testConfig } from '../helpers/portico.js'
import { httpUpstream } from '../helpers/upstreams.js'
import { send } from '../helpers/http.js'

interface Seen { method: string, cookie: string | undefined }

/** An "instance" app that sets cookies with every kind of Domain attribute and records requests. */
async function instance (t: Test, host: string): Promise<{ port: number, seen: Seen[] }> {
  const seen: Seen[] = []
  const { port } = await httpUpstream(t, (req, res) => {
    seen.push({ method: req.method ?? '', cookie: req.headers.cookie })
    const self = (req.headers.host ?? '').replace(/:\d+$/, '')
    res.setHeader('set-cookie', [
      'a=1; Domain=uap-a.test; Path=/', 'b=2; Path=/; domain=.UAP-A.TEST; HttpOnly', `c=3; Domain=${self}; Secure`, 'd=4; Domain=test',
      'e=5; Path=/', 'f=6; Domain=http-127-0-0-9-80.uap-a.test; SameSite=Lax'
    ])
    res.setHeader('server', 'jupyter/1.0')
    res.setHeader('x-powered-by', 'tornado')
    res.setHeader('access-control-allow-origin', '*')
    res.end(`${req.method} from ${host}`)
  }, host)
  return { port, seen }
}

t.test('UAP isolation: cookies, hardening, CORS parity, two domains, dual stack', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const a = await instance(t, '127.0.0.2')
  const b = await instance(t, '127.0.0.3')
  const certA = await ensureSelfSigned(join(dir, 'a'), ['*.uap-a.test', 'uap-a.test'])
  const certB = await ensureSelfSigned(join(dir, 'b'), ['*.uap-b.test', 'uap-b.test'])
  const p = await startPortico({
    dir,
    config: testConfig({
      access: true,
      listeners: [{ name: 'v4', tls: true }, { name: 'v6', host: '[::1]', tls: true }, 'plain'],
      certs: [certA, certB],
      routes: `
  - name: uap-a
    uap: { domain: uap-a.test, allow: [127.0.0.2/32], default_scheme: http }
    response_headers: { remove: [server, x-powered-by], set: { x-content-type-options: nosniff } }
    cors:
      preset: exosphere-uap
      origins: ["https://exosphere.example.org", '~^http://localhost(:[0-9]{1,5})?$', '~^https?://([a-z0-9-]+\\.)*exosphere\\.localhost(:[0-9]{1,5})?$']
      credentials: true
  - name: uap-b
    uap: { domain: uap-b.test, allow: [127.0.0.3/32], default_scheme: http, cookie_scoping: false }
  - name: uap-a-apex
    host: [uap-a.test, uap-b.test]
    https_redirect: true
    respond: { status: 404, body: "not an instance" }`
    })
  })
  t.teardown(() => p.stop('SIGKILL'))
  const hostA = `http-127-0-0-2-${a.port}.uap-a.test`
  const r = await send(p.ports.v4!, hostA, { tls: true, headers: { cookie: 'session=abc; other=1' } })
  t.equal(r.status, 200)
  t.same(r.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/; HttpOnly', `c=3; Domain=${hostA}; Secure`, 'd=4', 'e=5; Path=/', 'f=6; SameSite=Lax'], 'Domain attributes beyond the host removed')
  t.equal(a.seen[0]?.cookie, 'session=abc; other=1', 'incoming Cookie passed unchanged')
  t.equal(r.headers.server, undefined, 'Server stripped')
  t.equal(r.headers['x-powered-by'], undefined)
  t.equal(r.headers['x-content-type-options'], 'nosniff')

  const hostB = `http-127-0-0-3-${b.port}.uap-b.test`
  const rb = await send(p.ports.v4!, hostB, { tls: true })
  t.equal(rb.status, 200)
  t.same(rb.headers['set-cookie']?.[0], 'a=1; Domain=uap-a.test; Path=/', 'cookie_scoping: false passes cookies unchanged')
  t.equal(rb.headers.server, 'jupyter/1.0', 'no hardening unless configured')

  // Two UAP domains, each with its own networks and certificate.
  t.equal((await send(p.ports.v4!, `http-127-0-0-3-${b.port}.uap-a.test`, { tls: true })).status, 403, "domain A does not reach domain B's network")
  t.equal((await send(p.ports.v4!, `http-127-0-0-2-${a.port}.uap-b.test`, { tls: true })).status, 403)
  for (const [name, want] of [[hostA, 'DNS:*.uap-a.test, DNS:uap-a.test'], [hostB, 'DNS:*.uap-b.test, DNS:uap-b.test']] as const) {
    const got = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: p.ports.v4!, servername: name, rejectUnauthorized: false }, () => { resolve(s.getPeerX509Certificate()?.subjectAltName ?? ''); s.end() })
      s.on('error', reject)
    })
    t.equal(got, want, `certificate for ${name}`)
  }

  // CORS parity with Exosphere's UAP nginx config; only real preflights are answered locally.
  const dev = 'http://jupyter.exosphere.localhost:8000'
  const pre = await send(p.ports.v4!, hostA, { tls: true, method: 'OPTIONS', headers: { origin: dev, 'access-control-request-method': 'POST' } })
  t.equal(pre.status, 204)
  t.equal(pre.headers['access-control-allow-origin'], dev)
  t.equal(pre.headers['access-control-allow-credentials'], 'true')
  t.equal(pre.headers['access-control-allow-methods'], 'GET, POST, OPTIONS, HEAD')
  t.equal(pre.headers['access-control-allow-headers'], 'Authorization, Origin, X-Requested-With, Content-Type, Accept, X-Is-Electron')
  t.equal(pre.headers['access-control-max-age'], '86400')
  const before = a.seen.length
  const appOptions = await send(p.ports.v4!, hostA, { tls: true, method: 'OPTIONS', headers: { origin: dev } })
  t.equal(appOptions.body, 'OPTIONS from 127.0.0.2', 'a non-preflight OPTIONS reaches the app')
  t.equal(a.seen.length, before + 1)
  t.equal(appOptions.headers['access-control-allow-origin'], dev, "the app's * replaced by the echoed origin")
  const local = await send(p.ports.v4!, hostA, { tls: true, headers: { origin: 'http://localhost:8080' } })
  t.equal(local.headers['access-control-allow-origin'], 'http://localhost:8080')
  const foreign = await send(p.ports.v4!, hostA, { tls: true, headers: { origin: 'https://evil.example' } })
  t.equal(foreign.headers['access-control-allow-origin'], undefined, 'no CORS for other origins')

  // Dual stack: the same routes on [::1].
  const v6 = await new Promise<number>((resolve, reject) => {
    const req = https.request({ host: '::1', port: p.ports.v6, servername: hostA, headers: { host: hostA }, rejectUnauthorized: false, agent: false }, res => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', reject)
    req.end()
  })
  t.equal(v6, 200, 'IPv6 listener reachable on ::1')

  // The apex on plain HTTP goes to HTTPS.
  const apex = await send(p.ports.plain!, 'uap-a.test', { path: '/x' })
  t.equal(apex.status, 301)
  t.equal(apex.headers.location?.startsWith('https://uap-a.test'), true)
})
