import t from 'tap'
import { mergeNameTables, nameTableFromEntries, parseHostNames, type Candidate, type HostNames } from '../../src/dns/index.js'

// The merged Docker view across hosts (issue 23): order, ties, held hosts, foreign zones, bad input.

const ZONE = 'hpc.test'
const cand = (id: string, ip: string, role: Candidate['role'] = 'primary', priority = role === 'primary' ? 100 : 50): Candidate =>
  ({ containerId: id, containerName: `c${id}`, ipv4: ip, ipv6: undefined, port: undefined, role, priority })
const host = (name: string, entries: Array<[string, Candidate[]]>, held = false): HostNames => ({ host: name, held, entries })

t.test('merge: priority and role first, then this host, then host name, then container id', async t => {
  const local = nameTableFromEntries(1, [[`web.a.${ZONE}`, [cand('l1', '10.0.0.1', 'maintenance')]], [`tie.a.${ZONE}`, [cand('z9', '10.0.0.9')]]])
  const others = [
    host('zeta', [[`web.a.${ZONE}`, [cand('z1', '10.0.2.1')]], [`tie.a.${ZONE}`, [cand('a1', '10.0.2.2')]]]),
    host('beta', [[`tie.a.${ZONE}`, [cand('b2', '10.0.1.2'), cand('b1', '10.0.1.1')]], [`only.b.${ZONE}`, [cand('b3', '10.0.1.3')]]])
  ]
  const m = mergeNameTables(7, local, 'alpha', others, ZONE)
  t.same(m.lookup(`web.a.${ZONE}`)?.map(c => [c.host, c.containerId]), [['zeta', 'z1'], ['alpha', 'l1']], 'a primary on another host beats a local maintenance container')
  t.same(m.lookup(`tie.a.${ZONE}`)?.map(c => [c.host, c.containerId]), [['alpha', 'z9'], ['beta', 'b1'], ['beta', 'b2'], ['zeta', 'a1']],
    'equal rank: this host first, then by host name, then by container id')
  t.same(m.lookup(`only.b.${ZONE}`)?.map(c => c.host), ['beta'], 'a name only another host has')
  t.same(m.reverse('10.0.1.3'), [`only.b.${ZONE}`], 'PTR for another host\'s container')
  t.same(m.entries().map(([n]) => n), [`only.b.${ZONE}`, `tie.a.${ZONE}`, `web.a.${ZONE}`], 'names sorted')
  t.equal(m.generation, 7)
})

t.test('merge: a held host is left out, names outside the zone are dropped, our own published copy is ignored', async t => {
  const local = nameTableFromEntries(1, [[`web.a.${ZONE}`, [cand('l1', '10.0.0.1')]]])
  const m = mergeNameTables(2, local, 'alpha', [
    host('beta', [[`x.a.${ZONE}`, [cand('b1', '10.0.1.1')]]], true),
    host('gamma', [['evil.example.org', [cand('g1', '10.0.3.1')]], [`ok.a.${ZONE}`, [cand('g2', '10.0.3.2')]]]),
    host('alpha', [[`stale.a.${ZONE}`, [cand('s1', '10.0.9.9')]]])
  ], ZONE)
  t.same(m.entries().map(([n]) => n), [`ok.a.${ZONE}`, `web.a.${ZONE}`])
  t.equal(m.held, false)
  const held = mergeNameTables(3, nameTableFromEntries(1, [], true), 'alpha', [host('gamma', [[`ok.a.${ZONE}`, [cand('g2', '10.0.3.2')]]])], ZONE)
  t.equal(held.held, true, 'held while the local registry resyncs')
})

t.test('parse: a published value is checked whole; anything malformed leaves the host out', async t => {
  const good = JSON.stringify({ held: false, entries: [[`web.a.${ZONE}`, [cand('1', '172.18.0.2')]]] })
  const parsed = parseHostNames('beta', good)
  t.same('problem' in parsed ? parsed : parsed.entries[0]?.[1][0]?.ipv4, '172.18.0.2')
  const bad: Array<[string, string]> = [
    ['{', 'not JSON'],
    ['[]', 'no entries list'],
    [JSON.stringify({ entries: [['bad name!', []]] }), 'not \\[name, candidates\\]'],
    [JSON.stringify({ entries: [[`w.${ZONE}`, [{ ...cand('1', '172.18.0.2'), ipv4: '999.1.1.1' }]]] }), 'malformed'],
    [JSON.stringify({ entries: [[`w.${ZONE}`, [{ ...cand('1', '172.18.0.2'), role: 'boss' }]]] }), 'malformed'],
    [JSON.stringify({ entries: [[`w.${ZONE}`, [{ ...cand('1', '172.18.0.2'), port: 70000 }]]] }), 'malformed'],
    [JSON.stringify({ entries: [[`w.${ZONE}`, [{ ...cand('1', '172.18.0.2'), ipv4: undefined }]]] }), 'malformed']
  ]
  for (const [raw, why] of bad) t.match(parseHostNames('beta', raw), { problem: new RegExp(why) }, raw)
})
