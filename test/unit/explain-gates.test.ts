import t from 'tap'
import bcrypt from 'bcryptjs'
import { parseConfigText } from '../../src/config/index.js'
import { compileRouteTable, explain } from '../../src/router/index.js'

/** `portico explain` names the gates a request would pass, exactly when the policy runs them. */

t.test('explain lists the route gates in the order they run, and none where they do not run', async t => {
  const hash = await bcrypt.hash('pw', 4)
  const table = compileRouteTable(parseConfigText(`
listeners: [{ name: h, address: "127.0.0.1:0" }]
routes:
  - name: uap
    https_redirect: true
    client_deny: [192.0.2.0/24]
    uap: { domain: uap.example.org, allow: [198.51.100.0/24], ports: ["8000-8999"] }
  - name: admin
    host: admin.test
    client_allow: [10.0.0.0/8]
    client_deny: [10.9.0.0/16]
    basic_auth: { users: { alice: "${hash}" } }
    request_headers: { set: { x-team: ops } }
    strip_prefix: /admin
    proxy: { upstreams: ["http://127.0.0.2:7000"] }
  - name: based
    host: based.test
    proxy: { upstreams: ["http://127.0.0.3:7000/bucket"] }
  - name: plain
    host: plain.test
    proxy: { upstreams: ["http://127.0.0.4:7000"] }
`, 'unit.yaml'))
  const admin = explain(table, 'admin.test/admin/x')
  t.same(admin.gates, ['client_allow+client_deny', 'basic_auth', 'request_headers', 'strip_prefix'], 'every configured gate, in order')
  t.equal(admin.action, 'proxy')
  t.same(explain(table, 'based.test/x').gates, ['upstream base path'], "the upstream's base path is a path rewrite too")
  t.same(explain(table, 'plain.test/').gates, [], 'a route without gates')
  t.same(explain(table, 'nothing.test/').gates, [], 'no route: nothing runs')
  const uap = 'http-198-51-100-7-8080.uap.example.org'
  t.same(explain(table, uap).gates, ['client_deny'], 'a UAP target that is allowed')
  t.same(explain(table, uap, { tls: false }).gates, [], 'no gate before the redirect to HTTPS (credentials stay off plain HTTP)')
  const denied = explain(table, 'http-203-0-113-7-8080.uap.example.org')
  t.equal(denied.action, 'deny')
  t.same(denied.gates, [], 'a refused target is refused before any gate')
})
