import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { startDnsServer, nameTableFromEntries, NameRegistry, type Candidate } from '../../src/dns/index.js'
import { checkResponse, toClient, upstreamQuery } from '../../src/dns/upstream-response.js'
import { AnswerCache } from '../../src/dns/answer-cache.js'
import { RecursionAllow } from '../../src/dns/recursion-allow.js'
import { encodeResponse, parseQuery, RCODE, TYPE, type Reply } from '../../src/dns/wire.js'
import { requires } from '../helpers/required.js'

const run = promisify(execFile)
const caps = { maxTtl: 3600, negativeTtl: 300 }

/** The question section of a query for `name`/A, as a client would send it. */
function questionOf (name: string): Buffer {
  const labels = name.split('.').map(l => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]))
  const parsed = parseQuery(Buffer.concat([Buffer.from('000101000001000000000000', 'hex'), ...labels, Buffer.from([0, 0, 1, 0, 1])]))
  if (parsed.kind !== 'query') throw new Error('bad test query')
  return parsed.query.question
}

const answerA = (ttl: number): Reply => ({ rcode: RCODE.NOERROR, aa: true, answers: [{ ttl, data: { type: TYPE.A, address: Buffer.from([192, 0, 2, 1]) } }], authorities: [] })

t.test('upstream answers: only the answer to our query is believed', async t => {
  const q = questionOf('www.example.test')
  const good = encodeResponse(0x1234, 0, true, q, { udpSize: 1232, version: 0 }, answerA(120), 1232)
  const checked = checkResponse(good, 0x1234, q, caps)
  t.equal(checked.kind, 'answer', 'matching id and question: an answer')
  if (checked.kind === 'answer') t.equal(checked.answer.ttl, 120, 'cached for its TTL')
  t.equal(checkResponse(good, 0x1235, q, caps).kind, 'ignore', 'another id: ignored')
  t.equal(checkResponse(good, 0x1234, questionOf('www.example.tesu'), caps).kind, 'ignore', 'another question: ignored')
  const upper = Buffer.from(good)
  upper[13] = 'W'.charCodeAt(0)
  t.equal(checkResponse(upper, 0x1234, q, caps).kind, 'answer', 'letter case aside (0x20)')
  const query = upstreamQuery(0x1234, q)
  t.equal(checkResponse(query, 0x1234, q, caps).kind, 'ignore', 'a query (QR=0) reflected back: ignored')
  const bomb = Buffer.from(good)
  bomb.writeUInt16BE(0xffff, 6)
  t.equal(checkResponse(bomb, 0x1234, q, caps).kind, 'bad', 'counts beyond the bytes present: malformed, read no further')
  const tc = Buffer.from(good)
  tc[2] = tc[2]! | 0x02
  t.equal(checkResponse(tc, 0x1234, q, caps).kind, 'truncated', 'TC: retry over TCP')
  const huge = checkResponse(encodeResponse(1, 0, true, q, undefined, answerA(0x80000001), 512), 1, q, caps)
  t.equal(huge.kind === 'answer' && huge.answer.ttl, 0, 'a TTL with the top bit set counts as 0 (RFC 2181): not cached')
  const long = checkResponse(encodeResponse(1, 0, true, q, undefined, answerA(999_999), 512), 1, q, caps)
  t.equal(long.kind === 'answer' && long.answer.ttl, 3600, 'a long TTL is capped')
})

t.test('negative answers are cached per RFC 2308, capped', async t => {
  const q = questionOf('gone.example.test')
  const soa = (ttl: number, minimum: number): Reply => ({
    rcode: RCODE.NXDOMAIN, aa: true, answers: [],
    authorities: [{ name: 'example.test', ttl, data: { type: TYPE.SOA, mname: 'ns.example.test', rname: 'h.example.test', serial: 1, refresh: 1, retry: 1, expire: 1, minimum } }]
  })
  const ttlOf = (r: Reply): number | false => { const c = checkResponse(encodeResponse(7, 0, true, q, undefined, r, 512), 7, q, caps); return c.kind === 'answer' && c.answer.ttl }
  t.equal(ttlOf(soa(60, 30)), 30, 'min(SOA TTL, MINIMUM)')
  t.equal(ttlOf(soa(20, 30)), 20, 'min(SOA TTL, MINIMUM), the other way round')
  t.equal(ttlOf(soa(86_400, 86_400)), 300, 'capped by cache_negative_ttl')
  t.equal(ttlOf({ rcode: RCODE.NXDOMAIN, aa: false, answers: [], authorities: [] }), 0, 'without a SOA: not cached')
  t.equal(ttlOf({ rcode: RCODE.SERVFAIL, aa: false, answers: [], authorities: [] }), 0, 'SERVFAIL: not cached')
})

t.test('the client gets its own id and question, never more than its UDP size', async t => {
  const q = questionOf('big.example.test')
  const strings = Array.from({ length: 6 }, (_, i) => `${i}`.repeat(200))
  const big: Reply = { rcode: 0, aa: true, answers: strings.map(s => ({ ttl: 60, data: { type: TYPE.TXT, strings: [s] } })), authorities: [] }
  const checked = checkResponse(encodeResponse(9, 0, true, q, { udpSize: 4096, version: 0 }, big, 65_535), 9, q, caps)
  if (checked.kind !== 'answer') { t.fail('expected an answer'); return }
  const full = toClient(checked.answer, 0xbeef, q, true, true, 10, 65_535)
  t.equal(full.readUInt16BE(0), 0xbeef, 'the client\'s id')
  t.equal(full.readUInt16BE(6), 6, 'all six records over TCP')
  t.equal(full.readUInt16BE(10), 1, 'one OPT (ours; the upstream\'s is not passed on)')
  t.ok(full.length > 1232, `${full.length} bytes`)
  const ttl = full.readUInt32BE(12 + q.length + 2 + 2 + 2)
  t.equal(ttl, 50, 'TTL counted down by the time spent in the cache')
  const plain = toClient(checked.answer, 1, q, true, false, 0, 512)
  t.ok(plain.length <= 512 && (plain[2]! & 0x02) !== 0, `without EDNS: ${plain.length} bytes, TC set`)
  t.equal(plain.readUInt16BE(10), 0, 'and no OPT for a client that sent none')
})

t.test('the cache stays within its bytes and drops the least recently used', async t => {
  let now = 0
  const cache = new AnswerCache(2400, () => now)
  const entry = (ttl: number, bytes: number): Parameters<AnswerCache['set']>[1] => ({ rcode: 0, body: Buffer.alloc(bytes), an: 1, ns: 0, ar: 0, ttlAt: [0], ttl })
  cache.set('a', entry(10, 700))
  cache.set('b', entry(10, 700))
  cache.get('a')
  cache.set('c', entry(10, 700))
  t.ok(cache.bytes <= 2400, `${cache.bytes} bytes`)
  t.ok(cache.get('a') !== undefined && cache.get('c') !== undefined && cache.get('b') === undefined, 'b (least recently used) went')
  cache.set('huge', entry(10, 5000))
  t.equal(cache.get('huge'), undefined, 'an entry larger than the cache is not kept')
  now = 10_001
  t.equal(cache.get('a'), undefined, 'expired after its TTL')
  cache.set('zero', entry(0, 10))
  t.equal(cache.get('zero'), undefined, 'TTL 0: not cached')
})

t.test('recursion only for allowed clients: loopback, the Docker networks, CIDRs', async t => {
  const allow = new RecursionAllow(['loopback', 'docker', '10.1.0.0/16'])
  t.ok(allow.allows('127.0.0.5') && allow.allows('::1') && allow.allows('::ffff:127.0.0.1'), 'loopback, v4, v6 and v4-mapped')
  t.ok(allow.allows('10.1.2.3') && !allow.allows('10.2.0.1'), 'a configured CIDR')
  t.notOk(allow.allows('172.18.0.9'), 'a Docker network before it is known')
  const registry = new NameRegistry({ zone: 'hpc.test', namePattern: /^(?<tenant>[a-z]+)-(?<service>[a-z]+)$/, preferredNetwork: undefined, requireHealthy: false })
  const app = { ipv4: '172.18.0.5', ipv6: 'fd00:1::5', ipv4Prefix: 16, ipv6Prefix: 64 }
  registry.upsert({ id: 'c1', name: '/x-web', labels: {}, running: true, health: undefined, networks: { app } })
  registry.upsert({ id: 'c2', name: '/unnamed', labels: {}, running: true, health: undefined, networks: { other: { ipv4: '172.19.3.4', ipv6: undefined, ipv4Prefix: 24 } } })
  t.same(registry.subnets, ['172.18.0.0/16', '172.19.3.0/24', 'fd00:1:0:0:0:0:0:0/64'], 'the networks of every running container, named or not')
  allow.setDockerSubnets(registry.subnets)
  t.ok(allow.allows('172.18.200.1') && allow.allows('172.19.3.200') && allow.allows('fd00:1::99'), 'clients on those networks may recurse')
  t.notOk(allow.allows('172.19.4.1') || allow.allows('192.0.2.1') || allow.allows('fd00:2::1'), 'others may not')
  t.notOk(new RecursionAllow(['127.0.0.1/32']).allows('127.0.0.5'), 'an explicit list replaces the defaults')
})

t.test('PTR for container addresses over in-addr.arpa and ip6.arpa (dig -x)', requires('command:dig'), async t => {
  const c: Candidate = { containerId: 'a', containerName: 'x-web', ipv4: '172.18.0.5', ipv6: 'fd00:1::5', port: undefined, role: 'primary', priority: 100 }
  const table = nameTableFromEntries(1, [['web.x.hpc.test', [c]]])
  const server = await startDnsServer({ address: '127.0.0.1', port: 0, zone: 'hpc.test', ttlSeconds: 5, table: () => table })
  t.teardown(() => server.close())
  const dig = async (...args: string[]): Promise<string> => (await run('dig', ['@127.0.0.1', '-p', String(server.udpPort), '+time=2', '+tries=1', ...args])).stdout
  t.match(await dig('-x', '172.18.0.5', '+short'), /^web\.x\.hpc\.test\.$/m, 'IPv4')
  t.match(await dig('-x', 'fd00:1:0:0::5', '+short'), /^web\.x\.hpc\.test\.$/m, 'IPv6, whatever its spelling')
  t.match(await dig('-x', '172.18.0.6'), /status: REFUSED/, 'no container there, no forwarders: REFUSED as before')
  t.match(await dig('-x', 'fd00:1::6'), /status: REFUSED/, 'the same over ip6.arpa')
})

t.test('config: forwarders are IP:PORT, allow entries are keywords or CIDRs, Route53 keys go together', async t => {
  const { ConfigError, parseConfigText } = await import('../../src/config/index.js')
  const problems = (dns: string, acme = ''): string => {
    try {
      parseConfigText(`listeners: [{ name: http, address: "127.0.0.1:0" }]\ndns: ${dns}\n${acme}`, 'c.yaml')
      return ''
    } catch (err) {
      if (err instanceof ConfigError) return err.message
      throw err
    }
  }
  t.equal(problems('{ forwarders: ["127.0.0.2:53", "[::1]:5353"], allow: [loopback, docker, 10.0.0.0/8, 192.0.2.7] }'), '', 'valid')
  t.match(problems('{ forwarders: ["resolver.example:53"] }'), /dns\.forwarders\[0\]: expected an upstream resolver as IP:PORT/,
    'a host name is refused (no name to resolve first)')
  t.match(problems('{ forwarders: ["127.0.0.2:0"] }'), /dns\.forwarders\[0\]/, 'port 0 is refused')
  t.match(problems('{ allow: [everyone] }'), /dns\.allow\[0\]/, 'an unknown allow entry is refused')
  const acme = (r53: string): string => `acme: { email: a@b.c, route53: ${r53}, certificates: [{ name: x.test, domains: [x.test], provider: route53 }] }`
  t.match(problems('{}', acme('{ access_key_id: AKIAPORTICOTEST00001 }')),
    /acme\.route53\.secret_access_key_file: access_key_id and secret_access_key_file go together/, 'a key id alone is refused')
  t.match(problems('{}', acme('{ region: "us east" }')), /acme\.route53\.region/, 'a malformed region is refused')
  t.equal(problems('{}', acme('{}')), '', 'no keys: the SDK\'s default chain')
})
