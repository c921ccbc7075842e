import t from 'tap'
import { runInLoopbackNamespace } from '../helpers/netns.js'
import { requires } from '../helpers/required.js'
import { httpConfig } from '../helpers/portico.js'
import { figure } from '../helpers/figures.js'

// UAP isolation against real non-loopback addresses, inside a network namespace of our own.
const allowed = ['http-198-51-100-99-8888.uap.example.org', '198-51-100-99-8888.UAP.EXAMPLE.ORG.', 'HTTP-198-51-100-99-8888.uap.example.org:443']
const denied = [
  'http-203-0-113-5-8888.uap.example.org', // outside the CIDR
  'http-198-51-100-99-22.uap.example.org', // port outside the ranges
  'http-127-0-0-1-8888.uap.example.org', // loopback is not in the allowlist
  'http-198-51-100-099-8888.uap.example.org', 'http-198-51-100-99-08888.uap.example.org', '999-51-100-99-8888.uap.example.org',
  'http-198-51-100-99-0.uap.example.org', 'http-198-51-100-99-65536.uap.example.org', 'x.http-198-51-100-99-8888.uap.example.org',
  'http-198-51-100-99-8888-1.uap.example.org', 'xn--http-198-51-100-99-8888.uap.example.org', 'ftp-198-51-100-99-8888.uap.example.org',
  'http-198.51.100.99-8888.uap.example.org', 'http-3325256803-8888.uap.example.org', 'http-0xc6-51-100-99-8888.uap.example.org',
  // The CCP's SSRF classes as UAP labels: metadata, this-network, private, CGNAT, multicast, broadcast.
  'http-169-254-169-254-80.uap.example.org', 'http-169-254-169-254-8888.uap.example.org', 'http-0-0-0-0-8888.uap.example.org',
  'http-10-0-0-1-8888.uap.example.org', 'http-172-16-0-1-8888.uap.example.org', 'http-192-168-1-1-8888.uap.example.org',
  'http-100-64-0-1-8888.uap.example.org', 'http-224-0-0-1-8888.uap.example.org', 'http-255-255-255-255-8888.uap.example.org',
  'http-198-51-99-255-8888.uap.example.org', 'http-198-51-101-0-8888.uap.example.org'
]
// Absolute-form targets name their own authority: routed by it (no route here → 404), never
// forwarded to the allowed instance the Host header names.
const absolute = ['http://169.254.169.254/latest/meta-data/', 'http://203.0.113.5:8888/', 'http://127.0.0.1:8888/']
const malformed = ['', 'a..uap.example.org', 'http-198-51-100-99-8888.uap.example.org:99999', '[::1]:80x']

t.test('UAP decisions in a loopback-only namespace', requires('root', 'command:unshare', 'command:ip'), async t => {
  const hosts = [...allowed, ...denied, ...malformed]
  const r = await runInLoopbackNamespace({
    addresses: ['198.51.100.99', '203.0.113.5', '169.254.169.254'],
    listeners: [{ host: '198.51.100.99', port: 8888 }, { host: '203.0.113.5', port: 8888 }, { host: '198.51.100.99', port: 22 }, { host: '127.0.0.1', port: 8888 }, { host: '169.254.169.254', port: 80 }, { host: '169.254.169.254', port: 8888 }],
    config: httpConfig(`
  - name: uap
    uap: { domain: uap.example.org, allow: [198.51.100.0/24], ports: ["8000-8999"], default_scheme: http }`),
    requests: [...hosts.map(host => ({ host, path: '/probe?x=1' })), ...absolute.map(path => ({ host: allowed[0]!, path }))]
  })
  absolute.forEach((path, i) => { t.equal(r.results[hosts.length + i]?.status, 404, `absolute-form ${path} with an allowed Host: no route, not forwarded`) })
  const status = new Map(hosts.map((h, i) => [h, r.results[i]]))
  for (const h of allowed) {
    t.equal(status.get(h)?.status, 200, `allowed: ${h}`)
    t.match(status.get(h)?.body, /"served_by":"198\.51\.100\.99:8888"/)
  }
  for (const h of denied) t.equal(status.get(h)?.status, 403, `denied: ${h}`)
  for (const h of malformed) t.equal(status.get(h)?.status, 400, `malformed: ${JSON.stringify(h)}`)
  t.equal(r.requests['198.51.100.99:8888'], allowed.length, 'the allowed target saw exactly the allowed requests')
  t.equal(r.connections['203.0.113.5:8888'], 0, 'no connection to the address outside the CIDR')
  t.equal(r.connections['198.51.100.99:22'], 0, 'no connection to the denied port')
  t.equal(r.connections['127.0.0.1:8888'], 0, 'no connection to loopback')
  const outside = ['203.0.113.5:8888', '198.51.100.99:22', '127.0.0.1:8888', '169.254.169.254:80', '169.254.169.254:8888'].reduce((n, k) => n + (r.connections[k] ?? 0), 0)
  t.equal((r.connections['169.254.169.254:80'] ?? 0) + (r.connections['169.254.169.254:8888'] ?? 0), 0, 'no connection to the metadata address')
  figure({
    case: 'UAP isolation (SSRF classes)',
    tried: 'UAP hosts naming addresses outside the allowlist (metadata, this-network, private, CGNAT, multicast, broadcast, loopback, neighbours of the CIDR), denied ports, label tricks (leading zeros, decimal/hex IPs, prefixes, punycode), malformed hosts, absolute-form targets — inside a loopback-only namespace with those addresses listening',
    count: hosts.length + absolute.length,
    result: `${allowed.length} allowed served by the instance; ${denied.length} denied with 403, ${malformed.length} malformed with 400, ${absolute.length} absolute-form with 404; ${outside} connections to any address outside the policy`
  })
})
