import t from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parse } from 'yaml'
import { parseConfigText } from '../../src/config/index.js'

// examples/cluster: the two instances' configs are valid, and they point at the compose file's etcd members.
const DIR = join(import.meta.dirname, '..', '..', 'examples', 'cluster')

interface Compose { services: Record<string, { environment?: Record<string, string>, volumes?: string[] }> }

t.test('the cluster compose example: three etcd members, two porticos whose configs validate and agree', async t => {
  const compose = parse(await readFile(join(DIR, 'docker-compose.yml'), 'utf8'), { merge: true }) as Compose
  const members = Object.keys(compose.services).filter(s => s.startsWith('etcd'))
  t.same(members, ['etcd1', 'etcd2', 'etcd3'])
  const initial = members.map(m => compose.services[m]?.environment?.ETCD_INITIAL_CLUSTER)
  t.ok(initial.every(c => c === members.map(m => `${m}=http://${m}:2380`).join(',')), 'every member names the same initial cluster')
  for (const m of members) t.equal(compose.services[m]?.environment?.ETCD_NAME, m)
  const configs = []
  for (const n of ['a', 'b']) {
    t.ok(compose.services[`portico-${n}`]?.volumes?.includes(`./portico-${n}.yaml:/etc/portico/portico.yaml:ro`))
    const file = join(DIR, `portico-${n}.yaml`)
    configs.push(parseConfigText(await readFile(file, 'utf8'), file))
  }
  const [a, b] = configs
  t.same(a?.cluster?.endpoints, members.map(m => `http://${m}:2379`), 'portico talks to every member')
  t.same(b?.cluster?.endpoints, a?.cluster?.endpoints)
  t.not(a?.cluster?.name, b?.cluster?.name, 'distinct instance names')
  t.equal(a?.cluster?.prefix, b?.cluster?.prefix)
  t.equal(a?.docker?.watch, true)
  t.equal(b?.docker?.watch, false)
  t.same(a?.acme?.propagation.nameservers, ['portico-a:5353', 'portico-b:5353'], 'an order waits for both DNS servers')
})
