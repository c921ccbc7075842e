import t from 'tap'
import { parseConfigText } from '../../src/config/index.js'
import { configProblems } from '../helpers/config-problems.js'

const problems = configProblems

t.test('errors name file:line:col and key', async t => {
  const text = [
    'listeners:',                         // 1
    '  - name: http',                     // 2
    '    address: 127.0.0.1:8080',        // 3
    '    tsl: true',                      // 4
    'routes:',                            // 5
    '  - name: a',                        // 6
    '    proxy:',                         // 7
    '      upstreams: [http://127.0.0.2]',// 8
    '      timeouts: { conect: 5s }',     // 9
    '  - uap: { domain: u.example, allow: [10.0.0.0/33] }', // 10
    'admin: { address: nope }'            // 11
  ].join('\n')
  t.same(problems(text), [
    'c.yaml:4:5: listeners[0].tsl: unknown key "tsl" (did you mean "tls"?)',
    'c.yaml:9:19: routes[0].proxy.timeouts.conect: unknown key "conect" (did you mean "connect"?)',
    'c.yaml:10:39: routes[1].uap.allow[0]: invalid CIDR "10.0.0.0/33"',
    'c.yaml:11:19: admin.address: expected HOST:PORT, [IPv6]:PORT or :PORT with a port 0-65535'
  ])
})

t.test('YAML syntax errors are located', async t => {
  const [first] = problems('listeners:\n  - name: http\n   address: x\n')
  t.match(first, /^c\.yaml:3:\d+: /)
})

t.test('missing required keys and bad actions', async t => {
  t.match(problems('routes: []\n')[0], /^c\.yaml:1:1: listeners: .*required key missing/)
  t.match(problems('listeners: [{name: a, address: ":1"}]\nroutes:\n  - host: x\n'), [/^c\.yaml:3:5: routes\[0\]: a route needs exactly one action/])
  t.match(problems('listeners: [{name: a, address: ":1"}]\nroutes:\n  - host: x\n    respond: {}\n    redirect: { to: y }\n'), [/exactly one action, found redirect and respond/])
  t.match(problems('listeners: [{name: a, address: ":1"}, {name: a, address: ":2"}]\n'), [/c\.yaml:1:46: listeners\[1\]\.name: duplicate listener name/])
  t.match(problems('listeners: [{name: a, address: ":1", tls: true}]\n'), [/tls has neither certificates nor self_signed/])
})

t.test('defaults are applied', async t => {
  const c = parseConfigText('state_dir: st\nlisteners: [{name: a, address: ":8080"}]\nroutes: [{host: x, proxy: {upstreams: ["http://127.0.0.2:1"]}}]\n', '/etc/portico/p.yaml')
  t.equal(c.state_dir, '/etc/portico/st', 'relative to the config file')
  t.equal(c.shutdown_timeout, 10_000)
  t.equal(c.routes[0]?.proxy?.timeouts.connect, 5000)
  t.equal(c.routes[0]?.proxy?.preserve_host, true)
  t.equal(c.admin?.address, '127.0.0.1:9180')
})
