import t from 'tap'
import { parseConfigText } from '../../src/config/index.js'
import { compileAddressGuard, compileCcpPolicy, parseTargetHost, type Lookup } from '../../src/cors/index.js'

const ccpConfig = (extra = '') => {
  const c = parseConfigText(`
listeners: [{ name: h, address: "127.0.0.1:0" }]
routes:
  - host: ccp.test
    cors_proxy:
      hosts: ["*.example.org"]
      networks: [203.0.113.0/24, "2001:db8::/32"]
      ports: [5000, 443]
${extra}
`, 't.yaml')
  return c.routes[0]!.cors_proxy!
}

t.test('address guard', async t => {
  const g = compileAddressGuard(['10.9.0.0/16'])
  const denied = ['127.0.0.1', '127.255.255.254', '0.0.0.0', '169.254.169.254', '224.0.0.251', '255.255.255.255', '::', '::1', 'fe80::1',
    'ff02::1', 'fd00:ec2::254', '::ffff:127.0.0.1', '::ffff:169.254.169.254', '::127.0.0.1', '64:ff9b::a9fe:a9fe', '2002:a9fe:a9fe::1']
  for (const ip of denied) t.type(g.check(ip), 'string', `denied ${ip}`)
  for (const ip of ['198.51.100.1', '10.0.0.1', '2001:db8::1', '::ffff:198.51.100.1', '10.9.1.1']) t.equal(g.check(ip), undefined, `allowed ${ip}`)
  t.equal(compileAddressGuard(['127.0.0.0/8']).check('127.0.0.1'), undefined, 'explicit network overrides the class')
  t.equal(compileAddressGuard(['127.0.0.0/8']).check('::ffff:127.0.0.1'), undefined, 'also in its mapped form')
  t.type(g.check('not-an-ip'), 'string')
})

t.test('target host parsing', async t => {
  t.same(parseTargetHost('Keystone.Example.ORG.'), { kind: 'name', host: 'keystone.example.org' })
  t.same(parseTargetHost('203.0.113.9'), { kind: 'ip', host: '203.0.113.9' })
  t.same(parseTargetHost('2001:db8::1'), { kind: 'ip', host: '2001:db8::1' })
  for (const bad of ['127.1', '0x7f.1', '2130706433', '010.0.0.1', '1.2.3.256', 'a:1', '[::1]', 'a b', 'a\tb', 'a@b', '', 'a..b', '-a.b', 'a-.b', 'é.example.org', 'x'.repeat(64) + '.org', 'fe80::1%eth0']) {
    t.type(parseTargetHost(bad), 'string', JSON.stringify(bad))
  }
  t.type(parseTargetHost(['a.example.org', 'b.example.org']), 'string', 'repeated header')
})

t.test('policy: names, networks, ports, resolution pinned once', async t => {
  let calls = 0
  // A rebinding resolver: public first, loopback afterwards. The checked answer must be the one used.
  const rebinding: Lookup = async () => { calls++; return calls === 1 ? [{ address: '198.51.100.7', family: 4 }] : [{ address: '127.0.0.1', family: 4 }] }
  const p = compileCcpPolicy(ccpConfig(), rebinding)
  const ok = await p.resolve('keystone.example.org', '5000')
  t.same(ok, { ok: true, target: { origin: 'https://198.51.100.7:5000', serverName: 'keystone.example.org', hostHeader: 'keystone.example.org:5000' } })
  t.equal(calls, 1, 'one lookup per request')
  const second = await p.resolve('keystone.example.org', '5000')
  t.match(second, { ok: false, status: 403, reason: /forbidden address/ }, 'the rebound answer is checked, not trusted')
  const fixed = compileCcpPolicy(ccpConfig(), async () => [{ address: '198.51.100.7', family: 4 }])
  t.match(await fixed.resolve('keystone.example.org', undefined), { ok: true, target: { hostHeader: 'keystone.example.org' } }, 'default port 443')
  t.match(await fixed.resolve('keystone.example.org', '22'), { ok: false, status: 403 })
  t.match(await fixed.resolve('evil.com', '5000'), { ok: false, status: 403 })
  t.match(await fixed.resolve('203.0.113.4', '5000'), { ok: true, target: { origin: 'https://203.0.113.4:5000', serverName: '' } })
  t.match(await fixed.resolve('2001:db8::5', '443'), { ok: true, target: { origin: 'https://[2001:db8::5]:443', hostHeader: '[2001:db8::5]' } })
  t.match(await fixed.resolve('198.51.100.7', '5000'), { ok: false, status: 403, reason: /not in the allowed networks/ })
  const mixed = compileCcpPolicy(ccpConfig(), async () => [{ address: '198.51.100.7', family: 4 }, { address: '169.254.169.254', family: 4 }])
  t.match(await mixed.resolve('a.example.org', '5000'), { ok: false, status: 403 }, 'every resolved address is checked')
  const failing = compileCcpPolicy(ccpConfig(), async () => { throw new Error('ENOTFOUND') })
  t.match(await failing.resolve('a.example.org', '5000'), { ok: false, status: 502 })
  const slow = compileCcpPolicy(ccpConfig('      resolve_timeout: 100ms'), async () => await new Promise(() => {}))
  t.match(await slow.resolve('a.example.org', '5000'), { ok: false, status: 504 })
})

t.test('an open CCP is refused at config time', async t => {
  t.throws(() => parseConfigText('listeners: [{ name: h, address: ":1" }]\nroutes: [{ cors_proxy: { ports: [443] } }]\n', 'c.yaml'), /never be an open proxy/)
  t.throws(() => parseConfigText('listeners: [{ name: h, address: ":1" }]\nroutes: [{ host: a, cors: { origins: ["*"], credentials: true }, respond: {} }]\n', 'c.yaml'), /cannot be combined with credentials/)
})
