import t from 'tap'
import dgram from 'node:dgram'
import net from 'node:net'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { startDnsServer, nameTableFromEntries, type Candidate } from '../../src/dns/index.js'
import { parseQuery, encodeResponse, addressBytes, RCODE, TYPE } from '../../src/dns/wire.js'
import { RateLimiter } from '../../src/dns/rate-limit.js'
import { requires } from '../helpers/required.js'
import { fuzzPacket, prng, QUERY_CORPUS } from '../helpers/dns-fuzz.js'

const run = promisify(execFile)
const ZONE = 'hpc.test'
/** The packet of issue 19: a header claiming 0xffff records in every section, and nothing else. */
const COUNTS_BOMB = Buffer.from('00000100ffffffffffffffff', 'hex')

const cand = (id: string, ipv4: string | undefined, ipv6?: string): Candidate => ({ containerId: id, containerName: `c-${id}`, ipv4, ipv6, port: undefined, role: 'primary', priority: 100 })
const TABLE = nameTableFromEntries(1, [
  [`nginx.bigco.${ZONE}`, [cand('1', '172.29.9.10')]],
  [`v6.bigco.${ZONE}`, [cand('2', undefined, '2001:db8::7')]]
])

/** Every query dig sent, by test case: the corpus the fuzz test mutates. */
const captured: Buffer[] = []

/** What dig printed about the query it sent (its own parse of its own bytes). */
function digView (out: string): { name: string, cls: string, type: string, udp: number | undefined, version: number | undefined } {
  const q = /;; QUESTION SECTION:\n;(\S*)\s+(\S+)\s+(\S+)/.exec(out)
  const edns = /; EDNS: version: (\d+), flags:[^;]*; udp: (\d+)/.exec(out)
  return { name: q![1]!.toLowerCase().replace(/\.$/, ''), cls: q![2]!, type: q![3]!, udp: edns === null ? undefined : Number(edns[2]), version: edns === null ? undefined : Number(edns[1]) }
}

const TYPE_NAMES: Record<string, number> = { A: 1, NS: 2, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, ANY: 255, CAA: 257 }
const CLASS_NAMES: Record<string, number> = { IN: 1, CH: 3, HS: 4 }

t.test('dig\'s queries: portico\'s parser reads what dig says it sent', requires('command:dig'), async t => {
  // A listener that records each query and answers at once (empty), so dig does not wait.
  const sock = dgram.createSocket('udp4')
  await new Promise<void>(resolve => sock.bind(0, '127.0.0.1', resolve))
  const got: Buffer[] = []
  sock.on('message', (msg, r) => {
    got.push(msg)
    const p = parseQuery(msg)
    const id = msg.length >= 2 ? msg.readUInt16BE(0) : 0
    sock.send(encodeResponse(id, 0, false, p.kind === 'query' ? p.query.question : undefined, p.kind === 'query' ? p.query.edns : undefined, { rcode: RCODE.NOERROR, aa: false, answers: [], authorities: [] }, 512), r.port, r.address)
  })
  t.teardown(() => sock.close())
  const port = (sock.address()).port
  const cases = [
    ['nginx.bigco.hpc.test', 'A'], ['NgInX.BiGcO.HPC.test', 'AAAA'], ['-c', 'CH', '-t', 'TXT', 'version.bind'], ['-c', 'HS', 'x.test'],
    ['+noedns', 'hpc.test', 'SOA'], ['+bufsize=4096', 'hpc.test', 'NS'], ['+edns=0', '+notcp', 'x.hpc.test', 'ANY'],
    ['+subnet=10.1.2.0/24', 'y.hpc.test', 'MX'], ['+dnssec', '_acme-challenge.a.test', 'TXT'], ['+nocookie', '+bufsize=512', 'z.test', 'SRV'],
    ['-x', '172.29.9.10'], ['+padding=128', 'long-label-with-digits-0123456789.and.more.labels.hpc.test', 'CAA'], ['.', 'NS']
  ]
  for (const args of cases) {
    const before = got.length
    const out = (await run('dig', ['@127.0.0.1', '-p', String(port), '+qr', '+time=2', '+tries=1', ...args], { timeout: 10_000 })).stdout
    t.ok(got.length > before, `${args.join(' ')}: sent`)
    const bytes = got[before]!
    captured.push(bytes)
    const view = digView(out)
    const p = parseQuery(bytes)
    if (p.kind !== 'query') { t.fail(`${args.join(' ')}: parsed as ${p.kind}`); continue }
    t.same(
      { name: p.query.name, cls: p.query.cls, type: p.query.type, udp: p.query.edns?.udpSize, version: p.query.edns?.version },
      { name: view.name, cls: CLASS_NAMES[view.cls], type: TYPE_NAMES[view.type], udp: view.udp, version: view.version },
      `${args.join(' ')}: name, class, type and EDNS as dig printed them`)
  }
})

t.test('answers as dig reads them; protocol edges', requires('command:dig'), async t => {
  const server = await startDnsServer({
    address: '127.0.0.1', port: 0, zone: ZONE, ttlSeconds: 5, table: () => TABLE,
    txt: name => name === '_acme-challenge.a.test' ? ['v'.repeat(300)] : undefined
  })
  t.teardown(() => server.close())
  const dig = async (...args: string[]): Promise<string> => (await run('dig', ['@127.0.0.1', '-p', String(server.udpPort), '+time=2', '+tries=1', ...args], { timeout: 10_000 })).stdout
  const records = async (...args: string[]): Promise<string[]> => (await dig('+noall', '+answer', '+authority', ...args)).trim().split('\n').filter(Boolean).map(l => l.split(/\s+/).join(' '))
  t.same(await records(`nginx.bigco.${ZONE}`, 'A'), [`nginx.bigco.${ZONE}. 5 IN A 172.29.9.10`], 'A')
  t.same(await records(`NgInX.bIgCo.${ZONE}`, 'A'), [`NgInX.bIgCo.${ZONE}. 5 IN A 172.29.9.10`], 'the question\'s case is echoed (0x20)')
  t.same(await records(`v6.bigco.${ZONE}`, 'AAAA'), [`v6.bigco.${ZONE}. 5 IN AAAA 2001:db8::7`], 'AAAA')
  const soa = `${ZONE}. 5 IN SOA ns.${ZONE}. hostmaster.${ZONE}. 1 300 60 86400 5`
  t.same(await records(ZONE, 'SOA'), [soa], 'SOA')
  t.same(await records(ZONE, 'NS'), [`${ZONE}. 5 IN NS ns.${ZONE}.`], 'NS')
  t.same(await records(`nope.${ZONE}`, 'A'), [soa], 'NXDOMAIN carries the SOA')
  t.match(await dig(`nope.${ZONE}`, 'A'), /status: NXDOMAIN/)
  t.same(await records(`v6.bigco.${ZONE}`, 'A'), [soa], 'NODATA carries the SOA')
  t.same(await records('-x', '172.29.9.10'), [`10.9.29.172.in-addr.arpa. 5 IN PTR nginx.bigco.${ZONE}.`], 'PTR')
  t.same(await records('_acme-challenge.a.test', 'TXT'), [`_acme-challenge.a.test. 0 IN TXT "${'v'.repeat(255)}" "${'v'.repeat(45)}"`], 'a long TXT value in 255-byte strings')
  t.same(await records(`nginx.bigco.${ZONE}`, 'ANY'), [`nginx.bigco.${ZONE}. 5 IN HINFO "RFC8482" ""`], 'ANY: RFC 8482 HINFO')
  t.match(await dig('-c', 'CH', '-t', 'TXT', 'version.bind'), /status: REFUSED/, 'class CH: REFUSED')
  t.match(await dig('+opcode=status', ZONE, 'SOA'), /opcode: STATUS, status: NOTIMP/, 'opcode STATUS: NOTIMP')
  t.match(await dig('+edns=1', '+noednsnegotiation', ZONE, 'SOA'), /status: BADVERS/, 'EDNS version 1: BADVERS')
  t.match(await dig('example.org', 'A'), /status: REFUSED/, 'outside the zone: REFUSED')

  const udp = dgram.createSocket('udp4')
  t.teardown(() => udp.close())
  await new Promise<void>(resolve => udp.bind(0, '127.0.0.1', resolve))
  const replies: Buffer[] = []
  udp.on('message', m => replies.push(m))
  const exchange = async (packet: Buffer): Promise<Buffer | undefined> => {
    const before = replies.length
    udp.send(packet, server.udpPort, '127.0.0.1')
    for (let i = 0; i < 30 && replies.length === before; i++) await new Promise(resolve => setTimeout(resolve, 10))
    return replies[before]
  }
  const bomb = Buffer.from(COUNTS_BOMB)
  bomb.writeUInt16BE(0xbeef, 0)
  const formerr = await exchange(bomb)
  t.same(formerr === undefined ? undefined : { id: formerr.readUInt16BE(0), qr: formerr[2]! >> 7, rcode: formerr[3]! & 0xf }, { id: 0xbeef, qr: 1, rcode: RCODE.FORMERR }, 'the 12-byte counts bomb: FORMERR at once')
  const valid = captured[0]!
  const response = Buffer.from(valid)
  response[2] = response[2]! | 0x80
  t.equal(await exchange(response), undefined, 'QR=1 (a response): dropped, never answered')
  const cut = await exchange(valid.subarray(0, valid.length - 1))
  t.equal(cut === undefined ? undefined : cut[3]! & 0xf, RCODE.FORMERR, 'a query cut short by one byte: FORMERR')
  t.equal(await exchange(Buffer.from([1, 2, 3])), undefined, 'shorter than a header: dropped')
  const axfr = Buffer.from(valid)
  axfr.writeUInt16BE(TYPE.AXFR, 12 + (parseQuery(valid) as { query: { question: Buffer } }).query.question.length - 4)
  const notimp = await exchange(axfr)
  t.equal(notimp === undefined ? undefined : notimp[3]! & 0xf, RCODE.NOTIMP, 'zone transfer: NOTIMP')

  // Over TCP: the bomb, then a real query on the same connection, both answered in order.
  const answersTcp = await new Promise<Buffer[]>((resolve, reject) => {
    const s = net.connect(server.tcpPort, '127.0.0.1')
    let buf = Buffer.alloc(0)
    const out: Buffer[] = []
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) { out.push(buf.subarray(2, 2 + buf.readUInt16BE(0))); buf = buf.subarray(2 + buf.readUInt16BE(0)) }
      if (out.length === 2) { s.destroy(); resolve(out) }
    })
    s.on('error', reject)
    const frame = (b: Buffer): Buffer => Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b])
    s.write(Buffer.concat([frame(bomb), frame(valid)]))
  })
  t.same(answersTcp.map(a => [a.readUInt16BE(0), a[3]! & 0xf]), [[0xbeef, RCODE.FORMERR], [valid.readUInt16BE(0), RCODE.NOERROR]], 'TCP: FORMERR, then the next query answered')
})

t.test('seeded fuzz: every packet gets drop, an error or an answer, in time bounded by its length', async t => {
  const seed = Number(process.env.PORTICO_FUZZ_SEED ?? 19)
  const rand = prng(seed)
  const corpus = [...captured, ...QUERY_CORPUS]
  const counts = { drop: 0, error: 0, query: 0 }
  const n = 50_000
  const started = process.hrtime.bigint()
  let worst = 0n
  for (let i = 0; i < n; i++) {
    const p = fuzzPacket(rand, corpus)
    const at = process.hrtime.bigint()
    let r
    try { r = parseQuery(p) } catch (err) { t.fail(`seed ${seed} packet ${i} threw: ${(err as Error).message} (${p.toString('hex')})`); return }
    const took = process.hrtime.bigint() - at
    if (took > worst) worst = took
    counts[r.kind]++
    if (r.kind !== 'drop') {
      const out = encodeResponse(r.kind === 'query' ? r.query.id : r.id, 0, false, r.kind === 'query' ? r.query.question : r.question, undefined, { rcode: RCODE.FORMERR, aa: false, answers: [], authorities: [] }, 512)
      if (out.length > 512 || (out[2]! & 0x80) === 0) { t.fail(`seed ${seed} packet ${i}: bad response`); return }
    }
  }
  const totalMs = Number(process.hrtime.bigint() - started) / 1e6
  t.ok(counts.drop > 0 && counts.error > 0 && counts.query > 0, `all outcomes reached: ${JSON.stringify(counts)}`)
  // dns2 spent ~1.6 s on one 12-byte packet; here 50k packets of up to 900 bytes take well under that.
  t.ok(totalMs < 5000, `${n} packets parsed in ${totalMs.toFixed(0)} ms (worst single packet ${(Number(worst) / 1e6).toFixed(2)} ms)`)
  t.same(parseQuery(COUNTS_BOMB), { kind: 'error', id: 0, opcode: 0, rd: true, rcode: RCODE.FORMERR, question: undefined, edns: undefined }, 'the counts bomb: FORMERR without reading a record')
})

t.test('address bytes for A/AAAA', async t => {
  t.same(addressBytes('172.29.9.10'), Buffer.from([172, 29, 9, 10]))
  t.equal(addressBytes('2001:db8::7')?.toString('hex'), '20010db8000000000000000000000007')
  t.equal(addressBytes('::ffff:192.0.2.1')?.toString('hex'), '00000000000000000000ffffc0000201')
  t.equal(addressBytes('fe80::1%eth0')?.toString('hex'), 'fe800000000000000000000000000001')
  for (const bad of ['256.1.1.1', '1.2.3', '1::2::3', '12345::', 'x', '1:2:3:4:5:6:7:8:9']) t.equal(addressBytes(bad), undefined, `${bad}: not an address`)
  t.equal(TYPE.AAAA, 28)
})

t.test('rate limiter: per source, refilled over time, bounded table', async t => {
  let now = 0
  const rl = new RateLimiter(10, 20, () => now, 3)
  let ok = 0
  for (let i = 0; i < 100; i++) if (rl.allow('a')) ok++
  t.equal(ok, 20, 'a burst of 20, then dropped')
  t.ok(rl.allow('b'), 'another source is not affected')
  now += 500
  ok = 0
  for (let i = 0; i < 100; i++) if (rl.allow('a')) ok++
  t.equal(ok, 5, 'half a second later: 5 more')
  for (const s of ['c', 'd', 'e']) rl.allow(s)
  t.ok(rl.allow('a'), 'the table started over past its bound (memory stays flat)')
})
