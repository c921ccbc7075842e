import t from 'tap'
import { NameRegistry, claimOf, inspectClaim, tableDiff, type ContainerFacts } from '../../src/dns/index.js'
import { answer } from '../../src/dns/answer.js'
import { RCODE, TYPE } from '../../src/dns/wire.js'

const opts = { zone: 'hpc.internal', namePattern: /^(?<tenant>[a-z0-9]+)-(?<service>[a-z0-9][a-z0-9-]*)$/ }
const c = (id: string, name: string, labels: Record<string, string> = {}, extra: Partial<ContainerFacts> = {}): ContainerFacts => ({
  id, name: `/${name}`, labels, running: true, health: undefined, networks: { appliances: { ipv4: `172.29.0.${id}`, ipv6: undefined } }, ...extra
})

t.test('naming: labels, compose, pattern', async t => {
  t.same(claimOf(c('1', 'bigco-nginx'), opts)?.names, ['nginx.bigco.hpc.internal'])
  t.same(claimOf(c('1', 'bigco-havre-2'), opts)?.names, ['havre-2.bigco.hpc.internal'])
  t.equal(claimOf(c('1', 'standalone'), opts), undefined, 'no tenant, no name')
  t.same(claimOf(c('1', 'x', { 'portico.name': 'Nginx.BigCo', 'portico.aliases': 'www.bigco, api.bigco.hpc.internal' }), opts)?.names,
    ['nginx.bigco.hpc.internal', 'www.bigco.hpc.internal', 'api.bigco.hpc.internal'])
  t.same(claimOf(c('1', 'proj_web_1', { 'com.docker.compose.project': 'acme', 'com.docker.compose.service': 'web' }), opts)?.names, ['web.acme.hpc.internal'])
  t.same(claimOf(c('1', 'bigco-nginx', { 'portico.tenant': 'other' }), opts)?.names, ['nginx.other.hpc.internal'])
  t.match(claimOf(c('1', 'x', { 'portico.name': 'n.t', 'portico.role': 'maintenance', 'portico.port': '8080' }), opts), { role: 'maintenance', priority: 50, port: 8080 })
  t.same(claimOf(c('1', 'x', { 'portico.name': 'bad_name!' }), opts), undefined, 'invalid DNS names are not published')
  t.same(claimOf(c('1', 'x', { 'portico.name': 'n.t', 'portico.priority': '1e3' }), opts)?.priority, 100, 'priority 1e3 is not an integer label')
})

t.test('registry: candidates, health, preferred network, removal', async t => {
  const r = new NameRegistry({ ...opts, preferredNetwork: undefined, requireHealthy: true })
  t.equal(r.upsert(c('1', 'bigco-nginx')), true)
  t.equal(r.upsert(c('1', 'bigco-nginx')), false, 'same facts: no change')
  r.upsert(c('2', 'maint', { 'portico.name': 'nginx.bigco', 'portico.role': 'maintenance' }))
  t.same(r.table.lookup('nginx.bigco.hpc.internal')?.map(x => x.containerId), ['1', '2'], 'primary first')
  r.upsert(c('3', 'urgent', { 'portico.name': 'nginx.bigco', 'portico.role': 'maintenance', 'portico.priority': '200' }))
  t.equal(r.table.lookup('nginx.bigco.hpc.internal')?.[0]?.containerId, '3', 'priority wins over role')
  r.remove('3')
  r.upsert(c('1', 'bigco-nginx', {}, { running: false }))
  t.same(r.table.lookup('nginx.bigco.hpc.internal')?.map(x => x.containerId), ['2'], 'stopped primary: maintenance answers')
  r.upsert(c('1', 'bigco-nginx', {}, { health: 'unhealthy' }))
  t.same(r.table.lookup('nginx.bigco.hpc.internal')?.map(x => x.containerId), ['2'], 'unhealthy is not published')
  r.upsert(c('1', 'bigco-nginx', {}, { health: 'healthy' }))
  t.equal(r.table.lookup('nginx.bigco.hpc.internal')?.length, 2)
  t.same(r.table.reverse('172.29.0.1'), ['nginx.bigco.hpc.internal'])
  const preferred = new NameRegistry({ ...opts, preferredNetwork: 'frontend', requireHealthy: false })
  preferred.upsert(c('5', 'a-b', {}, { networks: { backend: { ipv4: '10.0.0.5', ipv6: undefined }, frontend: { ipv4: '10.1.0.5', ipv6: 'fd00::5' } } }))
  t.match(preferred.table.lookup('b.a.hpc.internal')?.[0], { ipv4: '10.1.0.5', ipv6: 'fd00::5' })
  preferred.upsert(c('6', 'c-d', {}, { networks: { backend: { ipv4: '10.0.0.6', ipv6: undefined } } }))
  t.equal(preferred.table.lookup('d.c.hpc.internal'), undefined, 'not on the preferred network: not published')
  t.equal(r.replaceAll([]), true)
  t.same(r.table.entries(), [])
})

t.test('labels: every bad label is reported with its reason; bad names and the zone\'s own records refused', async t => {
  const problems = (labels: Record<string, string>, name = 'x'): Array<[string, string]> => inspectClaim(c('1', name, labels), opts).problems.map(p => [p.label, p.why])
  t.match(problems({ 'portico.name': 'a.b', 'portico.port': '99999' }), [['portico.port', /not a port/]], 'port 99999')
  t.equal(claimOf(c('1', 'x', { 'portico.name': 'a.b', 'portico.port': '99999' }), opts)?.port, undefined, '... and not used')
  t.match(problems({ 'portico.name': 'a.b', 'portico.port': 'abc' }), [['portico.port', /not a port/]], 'port abc')
  t.match(problems({ 'portico.name': 'a.b', 'portico.port': '0' }), [['portico.port', /not a port/]], 'port 0')
  t.match(problems({ 'portico.name': 'a.b', 'portico.priority': '12.5' }), [['portico.priority', /not an integer; 100 used/]], 'priority 12.5')
  t.match(problems({ 'portico.name': 'a.b', 'portico.role': 'bogus' }), [['portico.role', /primary used/]], 'role bogus')
  t.match(problems({ 'portico.name': 'bad_name!' }), [['portico.name', /not a DNS name/]], 'bad_name!')
  t.match(problems({ 'portico.name': 'a'.repeat(70) + '.t' }), [['portico.name', /label of 70 characters/]], '70-character label')
  t.match(problems({ 'portico.name': Array.from({ length: 5 }, () => 'b'.repeat(63)).join('.') }), [['portico.name', /characters: a DNS name has at most 253/]], '317 characters')
  t.match(problems({ 'portico.name': 'ns' }), [['portico.name', /zone's own record/]], 'ns: the zone\'s NS target')
  t.match(problems({ 'portico.name': 'hpc.internal.' }), [['portico.name', /zone's own record/]], 'the apex')
  t.match(problems({ 'portico.name': 'ok.t', 'portico.aliases': 'fine.t, no way' }), [['portico.aliases', /not a DNS name/]], 'a bad alias, the rest kept')
  t.same(claimOf(c('1', 'x', { 'portico.name': 'ok.t', 'portico.aliases': 'fine.t, no way' }), opts)?.names, ['ok.t.hpc.internal', 'fine.t.hpc.internal'])
  t.same(problems({ 'portico.name': 'ok.t', 'portico.port': '8080', 'portico.priority': '-5', 'portico.role': 'primary' }), [], 'good labels: no problems')
  t.equal(claimOf(c('1', 'x', { 'portico.name': 'ns' }), opts), undefined, 'ns is not published')

  const warned: Array<[string, number]> = []
  const r = new NameRegistry({ ...opts, preferredNetwork: undefined, requireHealthy: false, onLabelProblems: (name, p) => warned.push([name, p.length]) })
  r.upsert(c('1', 'evil', { 'portico.name': 'ns', 'portico.port': 'abc' }))
  r.upsert(c('2', 'bigco-nginx'))
  r.upsert(c('2', 'bigco-nginx', { extra: 'x' }))
  t.same(warned, [['evil', 2]], 'one warning per container, not repeated on unrelated changes')
  t.same(r.labelProblems.map(p => p.container), ['evil'], 'kept for the status page while it runs')
  t.equal(r.table.lookup('ns.hpc.internal'), undefined, 'the NS target stays the zone\'s')
  r.remove('1')
  t.same(r.labelProblems, [], 'gone with the container')
})

t.test('the log gets the difference of two tables, not the table', async t => {
  const r = new NameRegistry({ ...opts, preferredNetwork: undefined, requireHealthy: false })
  for (let i = 1; i <= 5; i++) r.upsert(c(String(i), `t${i}-web`))
  const before = r.table
  r.remove('1')
  r.upsert(c('6', 't6-web'))
  r.upsert(c('2', 't2-web', {}, { networks: { appliances: { ipv4: '172.29.0.99', ipv6: undefined } } }))
  t.same(tableDiff(before, r.table), { added: ['web.t6.hpc.internal=172.29.0.6'], removed: ['web.t1.hpc.internal=172.29.0.1'], changed: ['web.t2.hpc.internal=172.29.0.2 -> 172.29.0.99'] })
})

t.test('a held table (dockerd back, not resynced): flagged, kept, released by the full listing; DNS answers SERVFAIL', async t => {
  const r = new NameRegistry({ ...opts, preferredNetwork: undefined, requireHealthy: false })
  r.upsert(c('1', 'bigco-nginx'))
  const before = r.table
  t.equal(r.hold(true), true, 'held')
  t.equal(r.hold(true), false, 'held again: no change')
  t.ok(r.table.held === true && r.table.generation > before.generation, 'a new generation with the flag')
  t.same(r.table.entries(), before.entries(), 'same entries')
  r.upsert(c('2', 't2-web'))
  t.equal(r.table.held, true, 'events during the resync keep it held')
  const query = { id: 1, opcode: 0, rd: true, type: TYPE.A, cls: 1, question: Buffer.alloc(0), edns: undefined }
  const zone = { zone: 'hpc.internal', ttlSeconds: 5, table: r.table, txt: () => undefined }
  t.equal(answer({ ...query, name: 'nginx.bigco.hpc.internal' }, zone).rcode, RCODE.SERVFAIL, 'held: SERVFAIL for a name, never the old address')
  t.equal(answer({ ...query, name: '1.0.29.172.in-addr.arpa', type: TYPE.PTR }, zone).rcode, RCODE.SERVFAIL, 'and for its PTR')
  t.equal(answer({ ...query, name: 'hpc.internal', type: TYPE.SOA }, zone).rcode, RCODE.NOERROR, 'the apex still answers')
  t.equal(r.replaceAll([c('1', 'bigco-nginx')]), true, 'the full listing releases it (a change even with equal entries)')
  t.equal(r.table.held, false)
  t.equal(answer({ ...query, name: 'nginx.bigco.hpc.internal' }, { ...zone, table: r.table }).answers.length, 1, 'released: answered')
})
