import t from 'tap'
import { parseConfigText } from '../../src/config/index.js'
import { compileRouteTable, decide } from '../../src/router/index.js'

const yaml = `
listeners:
  - { name: http, address: "127.0.0.1:0" }
  - { name: alt, address: "127.0.0.1:0" }
routes:
  - name: uap
    https_redirect: true
    uap: { domain: uap.example.org, allow: [198.51.100.0/24, 127.0.0.0/8], ports: ["8000-8999", 443] }
  - name: hoss-auth
    host: hoss.example.org
    path: /auth/v1
    proxy: { upstreams: [http://127.0.0.2:7001, http://127.0.0.3:7001] }
  - name: hoss-ui
    host: hoss.example.org
    proxy: { upstreams: [http://127.0.0.4:7003] }
  - name: wild
    host: "*.apps.example.org"
    respond: { status: 200, body: hi }
  - name: regex
    host: '~^(?<app>[a-z]+)-(?<port>\\d+)\\.svc\\.example\\.org$'
    proxy:
      upstreams: ["http://127.0.0.5:{port}"]
      allow: [127.0.0.0/8]
      ports: [80]
  - name: alt-only
    listeners: [alt]
    host: alt.example.org
    redirect: { to: "https://example.org{uri}", status: 302 }
`
const table = compileRouteTable(parseConfigText(yaml, 'test.yaml'))
const ask = (host: string, url = '/', tls = true, listener = 'http') => decide(table, { host, url, tls, listener })

t.test('UAP', async t => {
  const d = ask('http-198-51-100-99-8888.uap.example.org')
  t.equal(d.action, 'proxy')
  t.equal(d.action === 'proxy' && d.target, 'http://198.51.100.99:8888')
  t.equal(ask('198-51-100-99-443.UAP.example.org.:443').action === 'proxy' && (ask('198-51-100-99-443.uap.example.org') as { target: string }).target, 'https://198.51.100.99:443')
  const denied = ask('http-198-51-101-1-8888.uap.example.org')
  t.equal(denied.action, 'deny')
  t.match(denied.action === 'deny' && denied.reason, /outside the allowed networks/)
  const port = ask('http-198-51-100-1-9000.uap.example.org')
  t.match(port.action === 'deny' && port.reason, /port 9000 is not allowed/)
  t.equal(ask('999-1-1-1-80.uap.example.org').action, 'deny')
  t.equal(ask('a.http-198-51-100-99-8888.uap.example.org').action, 'deny', 'extra labels')
  t.equal(ask('uap.example.org').action, 'none', 'apex is not a UAP host')
  t.equal(ask('http-198-51-100-99-8888.uap.example.org.evil.com').action, 'none')
  const redirect = ask('http-198-51-100-99-8888.uap.example.org', '/lab?token=x', false)
  t.equal(redirect.action, 'redirect')
  t.equal(redirect.action === 'redirect' && redirect.location, 'https://http-198-51-100-99-8888.uap.example.org/lab?token=x')
  t.equal(ask('http-198-51-100-99-8888.uap.example.org', '/.well-known/acme-challenge/x', false).action, 'proxy', 'acme challenge is not redirected')
})

t.test('path routes and pools', async t => {
  const auth = ask('hoss.example.org', '/auth/v1/login')
  t.equal(auth.route?.name, 'hoss-auth')
  t.equal(ask('hoss.example.org', '/auth/v1').route?.name, 'hoss-auth')
  t.equal(ask('hoss.example.org', '/auth/v1?x=1').route?.name, 'hoss-auth')
  t.equal(ask('hoss.example.org', '/auth/v10').route?.name, 'hoss-ui', 'prefix ends at a segment')
  t.equal(ask('HOSS.example.org:443', '/').route?.name, 'hoss-ui')
  const pool = auth.action === 'proxy' ? auth.pool : undefined
  t.ok(pool)
  const first = pool!.candidates()
  const second = pool!.candidates()
  t.not(first[0], second[0], 'round robin')
  pool!.markDown('http://127.0.0.2:7001')
  t.same(pool!.candidates(), ['http://127.0.0.3:7001', 'http://127.0.0.2:7001'])
  t.same(pool!.candidates(), ['http://127.0.0.3:7001', 'http://127.0.0.2:7001'], 'down member goes last')
})

t.test('wildcards, regex captures, listeners', async t => {
  t.equal(ask('a.apps.example.org').action, 'respond')
  t.equal(ask('a.b.apps.example.org').action, 'respond', 'nginx-style wildcard spans labels')
  t.equal(ask('apps.example.org').action, 'none')
  t.equal(ask('alt.example.org').action, 'none', 'route bound to another listener')
  const r = ask('alt.example.org', '/x?y', true, 'alt')
  t.equal(r.action === 'redirect' && r.location, 'https://example.org/x?y')
  t.equal(ask('\r\nx.example.org').action, 'deny')
  t.equal(ask('').action, 'deny')
})

t.test('uap routes default to app-friendly timeouts (long polls, quiet SSE); proxy routes keep nginx-like ones', async t => {
  const table = compileRouteTable(parseConfigText(yaml, 't.yaml'))
  const settings = (name: string): { headersTimeoutMs: number, idleTimeoutMs: number, connectTimeoutMs: number } => {
    const a = table.routes.find(r => r.name === name)!.action
    if (a.kind !== 'uap' && a.kind !== 'proxy') throw new Error(name)
    return a.upstream
  }
  t.same(settings('uap'), { ...settings('uap'), connectTimeoutMs: 5000, headersTimeoutMs: 600_000, idleTimeoutMs: 3_600_000 })
  t.same(settings('hoss-ui'), { ...settings('hoss-ui'), connectTimeoutMs: 5000, headersTimeoutMs: 60_000, idleTimeoutMs: 60_000 })
})

t.test('a respond decision carries its narrowed action (no silent kind checks in the handler)', async t => {
  const table = compileRouteTable(parseConfigText(yaml, 't.yaml'))
  const d = decide(table, { host: 'a.apps.example.org', url: '/', listener: 'http', tls: true })
  if (d.action !== 'respond') throw new Error(d.action)
  t.same([d.respond.kind, d.respond.status, d.respond.body.toString()], ['respond', 200, 'hi'])
})
