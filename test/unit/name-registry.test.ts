import t from 'tap'
import { NameRegistry, claimOf, type ContainerFacts } from '../../src/dns/index.js'

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
