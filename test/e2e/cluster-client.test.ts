import t from 'tap'
import { Etcd3 } from 'etcd3'
import { Cluster, type ClusterLog } from '../../src/cluster/index.js'
import { etcdClient } from '../../src/cluster/connect.js'
import { configSchema } from '../../src/config/index.js'
import { request } from 'undici'
import { etcdForTest, startEtcd } from '../helpers/etcd.js'
import { makeTempDir, OK_ROUTES, startPortico, testConfig } from '../helpers/portico.js'
import { requires } from '../helpers/required.js'
import { until } from '../helpers/wait.js'

// The src/cluster client against real etcd members (Debian etcd-server) that the test starts on loopback.

const quiet: ClusterLog = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} }
const PREFIX = '/portico-test/'

/** A cluster member with the client portico builds from a `cluster` section. */
async function member (endpoints: string[], name: string, leaseTtlMs = 2000): Promise<Cluster> {
  const config = configSchema.shape.cluster.unwrap().parse({ endpoints, name, prefix: PREFIX, dial_timeout: '1s', lease_ttl: `${leaseTtlMs}ms` })
  return new Cluster(await etcdClient(config), { name, prefix: PREFIX, leaseTtlMs, log: quiet })
}

t.test('lock: one holder, the other sees who; a holder whose lease ended can no longer write (fencing)', requires('command:etcd'), async t => {
  const etcd = await startEtcd()
  t.teardown(etcd.stop)
  const a = await member(etcd.endpoints, 'a')
  const b = await member(etcd.endpoints, 'b')
  t.teardown(async () => { await a.close(); await b.close() })
  const raw = new Etcd3({ hosts: etcd.endpoints })
  t.teardown(() => { raw.close() })

  const first = await a.tryLock('order/www.test')
  t.ok(first.lock, 'a takes the free lock')
  const second = await b.tryLock('order/www.test')
  t.equal(second.lock, undefined, 'b does not get a held lock')
  t.equal(second.holder, 'a', 'b learns who holds it')
  t.ok(await first.lock?.put(`${PREFIX}certs/www.test`, 'from a'), 'the holder writes under its lock')

  // a's lease ends behind its back (a long pause, a partition): its lock key goes with it.
  const leaseA = a.health().lease
  t.ok(leaseA !== null, 'a holds a lease')
  await raw.leaseClient.leaseRevoke({ ID: leaseA as string })
  const third = await until('b takes the lock', async () => (await b.tryLock('order/www.test')).lock)
  t.not(third.revision, first.lock?.revision, 'a new lock key, a new fencing revision')
  t.equal(await first.lock?.put(`${PREFIX}certs/www.test`, 'stale a'), false, 'the stale holder\'s write is refused')
  t.equal(await first.lock?.held(), false)
  t.ok(await third.put(`${PREFIX}certs/www.test`, 'from b'))
  t.equal((await b.get('certs/www.test'))?.value.toString(), 'from b', 'the successor\'s result stands')
  await first.lock?.release()
  t.equal((await raw.get(`${PREFIX}locks/order/www.test`).string()), 'b', 'the stale holder\'s release leaves the successor\'s lock')
  await third.release()
  t.equal(await raw.get(`${PREFIX}locks/order/www.test`).string(), null, 'released')
  // a's session noticed the revoked lease and holds a new one.
  await until('a has a new lease', async () => { const l = a.health().lease; return l !== null && l !== leaseA ? l : undefined })
})

t.test('published keys live under the instance lease: gone when it stops, back under a new lease after etcd was away', requires('command:etcd'), async t => {
  const { etcd, raw } = await etcdForTest(t)
  const a = await member(etcd.endpoints, 'a')
  await a.publish('members/a', 'here')
  await until('published', async () => await raw.get(`${PREFIX}members/a`).string() ?? undefined)
  t.ok(a.health().connected)
  const before = a.health().lease

  // etcd fully down for longer than the lease TTL: the lease is gone when it comes back.
  await etcd.kill(0)
  await until('a sees etcd unreachable', async () => a.health().connected ? undefined : true, 15_000)
  t.match(a.health().lastError, /./, 'the error is reported')
  await new Promise(resolve => setTimeout(resolve, 2500))
  await etcd.restart(0)
  const keyLease = async (): Promise<string | undefined> => (await raw.get(`${PREFIX}members/a`).exec()).kvs[0]?.lease
  const renewed = await until('the key is back under a new lease', async () => {
    const l = await keyLease()
    return l !== undefined && l !== before && l === a.health().lease ? l : undefined
  }, 30_000)
  t.ok(a.health().connected, 'reconnected')
  await until('the lease given up while etcd was away is revoked', async () => {
    const leases = await raw.leaseClient.leaseLeases()
    return leases.leases.every(l => l.ID === renewed) ? true : undefined
  })

  await a.close()
  t.equal(await raw.get(`${PREFIX}members/a`).string(), null, 'closing revokes the lease: the key is gone at once')
})

t.test('mirror: resumes from its last revision after its member died, and sees what was written meanwhile', requires('command:etcd'), async t => {
  const etcd = await startEtcd({ members: 3 })
  t.teardown(etcd.stop)
  const writer = new Etcd3({ hosts: etcd.endpoints.slice(1) })
  t.teardown(() => { writer.close() })
  // The mirror talks to member 0 only, so killing it cuts the watch.
  const a = await member(etcd.endpoints.slice(0, 1), 'a')
  t.teardown(async () => { await a.close() })
  await writer.put(`${PREFIX}certs/one`).value('1')
  const seen: string[][] = []
  const m = a.mirror('certs/', (_entries, changed) => { seen.push([...changed]) })
  await m.ready
  t.same([...m.entries.keys()], ['one'], 'listed')
  await writer.put(`${PREFIX}certs/two`).value('2')
  await until('watched put', async () => m.entries.get('two')?.toString())

  await etcd.kill(0)
  await writer.put(`${PREFIX}certs/three`).value('3')
  await writer.delete().key(`${PREFIX}certs/one`)
  await writer.put(`${PREFIX}other`).value('not mirrored')
  // Away long enough for the client's default watch backoff (up to 30 s between attempts) to have grown
  // past portico's 2 s cap: the replay must then come within that cap plus a start, not half a minute later.
  await new Promise(resolve => setTimeout(resolve, 15_000))
  await etcd.restart(0)
  const back = Date.now()
  await until('replayed after the reconnect', async () => m.entries.has('three') && !m.entries.has('one') ? true : undefined, 30_000)
  t.ok(Date.now() - back < 5000, `replayed ${Date.now() - back} ms after the member's return (watch retries capped at 2 s)`)
  t.same([...m.entries.keys()].sort(), ['three', 'two'])
  t.ok(seen.some(c => c.includes('one')), 'the delete made while away was reported')
  t.notOk([...m.entries.keys()].includes('other'), 'keys outside the prefix stay out')
})

t.test('a member loss in a 3-member etcd is invisible to a client that knows all endpoints', requires('command:etcd'), async t => {
  const etcd = await startEtcd({ members: 3 })
  t.teardown(etcd.stop)
  const a = await member(etcd.endpoints, 'a')
  t.teardown(async () => { await a.close() })
  await a.put('k', 'v1')
  for (const victim of [0, 1, 2]) {
    await etcd.kill(victim)
    // Bounded: a call may land on the dead member once before the client moves on.
    await until(`write with member ${victim} down`, async () => { await a.put('k', `v-${victim}`).catch(() => {}); return (await a.get('k').catch(() => undefined))?.value.toString() === `v-${victim}` ? true : undefined }, 20_000)
    const lock = await until('lock with a member down', async () => (await a.tryLock(`l${victim}`).catch(() => ({ lock: undefined }))).lock, 20_000)
    await lock.release()
    await etcd.restart(victim)
  }
  t.equal((await a.get('k'))?.value.toString(), 'v-2')
})

t.test('portico with a cluster section: serves while etcd is away, joins when it comes, leaves when it stops', requires('command:etcd'), async t => {
  const { etcd, raw } = await etcdForTest(t)
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  await etcd.kill(0)
  const p = await startPortico({
    dir,
    config: testConfig({ routes: OK_ROUTES, extra: `cluster: { endpoints: [${etcd.endpoints[0]}], name: edge-1, prefix: ${PREFIX}, lease_ttl: 2s, dial_timeout: 500ms }` })
  })
  t.teardown(async () => { await p.stop() })
  const res = await request(`http://127.0.0.1:${p.ports.http}/`)
  t.equal(await res.body.text(), 'ok', 'serving without etcd')
  await etcd.restart(0)
  const joined = await until('the instance is listed', async () => await raw.get(`${PREFIX}members/edge-1`).json() as { pid: number } | null ?? undefined, 20_000)
  t.equal(joined.pid, p.child.pid)
  await p.stop()
  t.equal(await raw.get(`${PREFIX}members/edge-1`).string(), null, 'a stopped instance is gone at once (its lease revoked)')
})
