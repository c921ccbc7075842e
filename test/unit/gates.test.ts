import t from 'tap'
import bcrypt from 'bcryptjs'
import { parseConfigText } from '../../src/config/index.js'
import { compileRouteTable } from '../../src/router/index.js'
import { applyUpstreamEdits, rewritePath, type GateRequest } from '../../src/router/gates/index.js'
import { parseBasic } from '../../src/router/gates/basic-auth.js'
import { VerifiedCache } from '../../src/router/gates/verified-cache.js'

/** Pure gate logic; the gates against real sockets, auth services and HTTP/2 are in test/e2e/gates-*.test.ts. */

function routeGates (routeYaml: string): NonNullable<ReturnType<typeof compileRouteTable>['routes'][number]['gates']> {
  const table = compileRouteTable(parseConfigText(`listeners: [{ name: h, address: "127.0.0.1:0" }]\nroutes:\n${routeYaml}`, 'unit.yaml'))
  const gates = table.routes[0]?.gates
  if (gates === undefined) throw new Error('route has no gates')
  return gates
}

function request (over: Partial<GateRequest> & { headers?: Record<string, string> } = {}): GateRequest {
  const headers = over.headers ?? {}
  return {
    method: 'GET', url: '/', host: 'a.test', clientIp: '127.0.0.1', peerIp: '127.0.0.1', proto: 'http', requestId: 'rid-1',
    ...over,
    header: (n: string) => headers[n]
  }
}

t.test('strip_prefix and base path: whole segments, query and escapes byte for byte', async t => {
  const cases: Array<[string, string, string, string]> = [
    ['/objects/a%2Fb?x=1', '/objects', '/bucket', '/bucket/a%2Fb?x=1'],
    ['/objects', '/objects', '/bucket', '/bucket/'],
    ['/objects?x=%2F', '/objects', '/bucket', '/bucket/?x=%2F'],
    ['/objectsX/y', '/objects', '/bucket', '/bucket/objectsX/y'],
    ['/other/a', '/objects', '', '/other/a'],
    ['/objects/%7e%20/../x?a=b&c', '/objects', '', '/%7e%20/../x?a=b&c'],
    ['/x?q', '', '/base', '/base/x?q']
  ]
  for (const [url, strip, base, want] of cases) t.equal(rewritePath(url, strip, base), want, `${url} strip ${strip} base ${base}`)
})

t.test('header edits: portico-owned names survive, set replaces, add appends, remove drops', async t => {
  const gates = routeGates(`
  - host: a.test
    request_headers:
      set: { X-Real-IP: "{client_ip}", X-Who: "{host} {method} {uri} {path} {proto} {request_id} {remote_addr} [{auth_user}]" }
      add: { X-Extra: [one, two] }
      remove: [cookie]
    proxy: { upstreams: ["http://127.0.0.2:1/base"] }
`)
  const v = await gates.run(request({ url: '/p?q=1', host: 'A.Test:8080', clientIp: '10.0.0.9', peerIp: '127.0.0.1' }))
  if (!v.pass) throw new Error('refused')
  t.equal(v.edits.path, '/base/p?q=1', 'the base path applies without strip_prefix')
  const flat = ['host', 'a.test', 'Cookie', 'c=1', 'X-Real-IP', 'forged', 'x-forwarded-for', '10.0.0.9', 'x-request-id', 'rid-1']
  const out = applyUpstreamEdits(flat, v.edits)
  const pairs: string[] = []
  for (let i = 0; i < out.length; i += 2) pairs.push(`${out[i]!.toLowerCase()}: ${out[i + 1]!}`)
  t.same(pairs, [
    'host: a.test', 'x-forwarded-for: 10.0.0.9', 'x-request-id: rid-1',
    'x-real-ip: 10.0.0.9', 'x-who: a.test GET /p?q=1 /p http rid-1 127.0.0.1 []', 'x-extra: one', 'x-extra: two'
  ])
  t.equal(applyUpstreamEdits(flat, undefined), flat, 'no edits: the same list, no copy')
})

t.test('request_headers refuses names portico owns and unknown placeholders, at load time', async t => {
  const bad = (routes: string): string => {
    try { parseConfigText(`listeners: [{ name: h, address: "127.0.0.1:0" }]\nroutes:\n${routes}`, 'unit.yaml') } catch (err) { return (err as Error).message }
    return 'accepted'
  }
  const proxy = 'proxy: { upstreams: ["http://127.0.0.2:1"] }'
  t.match(bad(`  - { request_headers: { set: { X-Forwarded-For: x } }, ${proxy} }`), /set by portico itself/)
  t.match(bad(`  - { request_headers: { remove: [Connection] }, ${proxy} }`), /set by portico itself/)
  t.match(bad(`  - { request_headers: { set: { Host: x } }, ${proxy} }`), /set by portico itself/)
  t.match(bad(`  - { request_headers: { set: { X-A: "{nope}" } }, ${proxy} }`), /unknown placeholder \{nope\}/)
  t.match(bad(`  - { forward_auth: { address: "http://127.0.0.3:1", copy_headers: [x-request-id] }, ${proxy} }`), /set by portico itself/)
  t.match(bad(`  - { strip_prefix: /x, respond: { body: hi } }`), /strip_prefix applies to proxy and docker routes only/)
  t.match(bad('  - { proxy: { upstreams: ["http://127.0.0.2:1/a", "http://127.0.0.3:1/b"] } }'), /share one base path/)
  t.match(bad('  - { proxy: { upstreams: ["http://127.0.0.2:1/a?x=1"] } }'), /without query or fragment/)
  t.match(bad(`  - { basic_auth: { users: { bob: plain } }, ${proxy} }`), /bcrypt hash/)
  const fine = '$2b$04$' + 'a'.repeat(53)
  t.match(bad(`  - { basic_auth: { users: { "a:b": "${fine}" } }, ${proxy} }`), /users\.a:b: a user name is not empty and has no ":"/)
  t.match(bad(`  - { basic_auth: { users: {} }, ${proxy} }`), /at least one user/)
  t.match(bad(`  - { client_allow: [10.0.0.0/33], ${proxy} }`), /invalid CIDR/)
  t.equal(bad(`  - { strip_prefix: /objects, proxy: { upstreams: ["http://127.0.0.2:1/bucket/"] } }`), 'accepted')
})

t.test('client_allow / client_deny: deny wins, allow is a closed list', async t => {
  const gates = routeGates(`
  - host: a.test
    client_allow: [10.0.0.0/8, "::1"]
    client_deny: [10.6.0.0/16]
    respond: { body: ok }
`)
  const verdict = async (ip: string): Promise<string> => {
    const v = await gates.run(request({ clientIp: ip }))
    return v.pass ? 'pass' : `${v.refusal.answer.status} ${v.refusal.reason}`
  }
  t.equal(await verdict('10.1.2.3'), 'pass')
  t.equal(await verdict('::1'), 'pass')
  t.equal(await verdict('10.6.1.1'), '403 client address 10.6.1.1 is denied (client_deny)')
  t.equal(await verdict('192.0.2.1'), '403 client address 192.0.2.1 is not allowed (client_allow)')
  t.equal(await verdict('not-an-ip'), '403 client address not-an-ip is not allowed (client_allow)', 'garbage fails closed')
})

t.test('Basic credentials parsing', async t => {
  const b64 = (s: string): string => Buffer.from(s).toString('base64')
  t.same(parseBasic(`Basic ${b64('alice:pa:ss')}`), { user: 'alice', password: 'pa:ss' }, 'the password may contain a colon')
  t.same(parseBasic(`basic   ${b64('é:ü')}`), { user: 'é', password: 'ü' }, 'scheme case-insensitive, UTF-8')
  t.equal(parseBasic(`Bearer ${b64('a:b')}`), undefined)
  t.equal(parseBasic(`Basic ${b64('nocolon')}`), undefined)
  t.equal(parseBasic('Basic !!!'), undefined)
})

t.test('verified cache: bounded, expires, never stores when ttl is 0', async t => {
  let now = 1000
  const cache = new VerifiedCache(50, 3, () => now)
  for (const k of ['a', 'b', 'c', 'd']) cache.set(k, `user-${k}`)
  t.equal(cache.size, 3, 'bounded')
  t.equal(cache.get('a'), undefined, 'the oldest entry went first')
  t.equal(cache.get('d'), 'user-d')
  now += 51
  t.equal(cache.get('d'), undefined, 'expired')
  const off = new VerifiedCache(0, 3)
  off.set('a', 'x')
  t.equal(off.get('a'), undefined)
  t.not(VerifiedCache.key('Basic YTpi'), VerifiedCache.key('Basic YTpj'))
})

/** A route with basic_auth for alice (bcrypt of `password` at `cost`), and requests with given credentials. */
async function basicRoute (password: string, cost: number): Promise<{ gates: ReturnType<typeof routeGates>, withAuth: (user: string, pw: string) => GateRequest }> {
  const hash = await bcrypt.hash(password, cost)
  const gates = routeGates(`
  - host: a.test
    basic_auth: { users: { alice: "${hash}" } }
    proxy: { upstreams: ["http://127.0.0.2:1"] }
`)
  return { gates, withAuth: (user, pw) => request({ headers: { authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` } }) }
}

t.test('basic_auth: a verified header is cached, so a keep-alive client pays bcrypt once', async t => {
  const { gates, withAuth } = await basicRoute('s3cret', 10)
  const good = withAuth('alice', 's3cret')
  let started = performance.now()
  const first = await gates.run(good)
  const uncached = performance.now() - started
  t.ok(first.pass, 'accepted')
  if (first.pass) t.ok(first.edits.remove.has('authorization'), 'Authorization is not forwarded by default')
  started = performance.now()
  for (let i = 0; i < 20; i++) t.ok((await gates.run(good)).pass)
  // 20 cached checks cost less than one bcrypt verification (cost 10 ≈ 50+ ms in bcryptjs).
  t.ok(performance.now() - started < uncached, `20 cached: ${(performance.now() - started).toFixed(1)} ms, one uncached: ${uncached.toFixed(1)} ms`)
  const wrong = await gates.run(withAuth('alice', 'nope'))
  t.same(wrong.pass ? 'pass' : [wrong.refusal.answer.status, wrong.refusal.reason], [401, 'wrong user name or password'])
})

t.test('basic_auth: one verification per distinct header in flight, at most 16 of them', async t => {
  const { gates, withAuth } = await basicRoute('pw', 4)
  const same = await Promise.all(Array.from({ length: 30 }, async () => await gates.run(withAuth('alice', 'pw'))))
  t.ok(same.every(v => v.pass), '30 concurrent requests with the same credentials: one shared verification, all pass')
  const guesses = await Promise.all(Array.from({ length: 20 }, async (_, i) => await gates.run(withAuth('alice', `guess-${i}`))))
  const statuses = guesses.map(v => v.pass ? 200 : v.refusal.answer.status)
  t.same([statuses.filter(s => s === 401).length, statuses.filter(s => s === 503).length], [16, 4], 'distinct verifications capped')
  t.ok((await gates.run(withAuth('alice', 'pw'))).pass, 'the cap frees up when they finish')
})
