import t from 'tap'
import { send } from '../helpers/http.js'
import { startEtcd } from '../helpers/etcd.js'
import { containerIp, importBusybox, runWebContainer, startDockerd } from '../helpers/dockerd.js'
import { dig, ZONE } from '../helpers/appliances.js'
import { freePort, startPortico, testConfig, type Portico } from '../helpers/portico.js'
import { requires } from '../helpers/required.js'
import { until } from '../helpers/wait.js'

// Docker names from every host (issue 23): two hosts are simulated by two portico instances
// watching one dockerd through different networks (`docker.network`), so each registry sees only
// "its" containers; a third instance has no watcher (`docker.watch: false`) and serves what the
// others publish. All three share one real etcd on loopback.

const PREFIX = '/portico-docker-test/'
interface Ready { status: string, degraded?: string[], cluster?: { connected: boolean, lease: string | null, lastSync: string | null, revision: string | null } }
type Names = Record<string, Array<{ containerName: string, ipv4: string, role: string, host: string }>>

t.test('Docker names merged across hosts through etcd; a dead host drops out; maintenance fails over across hosts',
  requires('root', 'command:dockerd', 'command:dig', 'command:etcd'), async t => {
    const etcd = await startEtcd()
    t.teardown(etcd.stop)
    const d = await startDockerd()
    t.teardown(() => d.stop())
    const image = await importBusybox(d)
    const third = 1 + Math.floor(Math.random() * 250)
    await d.docker('network', 'create', '--subnet', `172.26.${third}.0/24`, 'net-a')
    await d.docker('network', 'create', '--subnet', `172.26.${third + 1}.0/24`, 'net-b')

    const start = async (host: string, docker: string, dnsPort?: number): Promise<Portico> => {
      const p = await startPortico({
        config: testConfig({
          admin: true,
          routes: `  - name: appliance
    host: '~^(?<tenant>[a-z0-9]+)\\.hpc\\.example\\.com$'
    docker: { name: 'nginx.{tenant}', port: 80, timeouts: { connect: 1s } }`,
          extra: `docker: { zone: ${ZONE}, reconcile_interval: 2s, ${docker} }
${dnsPort === undefined ? '' : `dns: { address: "127.0.0.1:${dnsPort}", ttl: 1s }`}
cluster: { endpoints: [${etcd.endpoints.join(', ')}], name: ${host}, prefix: ${PREFIX}, lease_ttl: 2s, dial_timeout: 500ms }`
        })
      })
      t.teardown(() => p.stop('SIGKILL'))
      return p
    }
    const dnsB = await freePort()
    const a = await start('host-a', `endpoint: "${d.endpoint}", network: net-a`)
    const b = await start('host-b', `endpoint: "${d.endpoint}", network: net-b`, dnsB)
    const c = await start('host-c', 'endpoint: "unix:///nonexistent/docker.sock", watch: false')
    const names = async (p: Portico): Promise<Names> => await (await fetch(`${p.adminUrl}/names`)).json() as Names
    const body = async (p: Portico, tenant: string): Promise<string> => {
      const r = await send(p.ports.http!, `${tenant}.hpc.example.com`)
      return r.status === 200 ? r.body.trim() : `${r.status}`
    }
    const NGINX = `nginx.bigco.${ZONE}`

    // The primary runs on host a, the maintenance container on host b.
    await runWebContainer(d, image, 'bigco-nginx', 'primary', ['--network', 'net-a'])
    await runWebContainer(d, image, 'bigco-maint', 'maintenance', ['--network', 'net-b', '--label', 'portico.name=nginx.bigco', '--label', 'portico.role=maintenance'])
    const primaryIp = await containerIp(d, 'bigco-nginx')
    for (const [p, label] of [[a, 'a'], [b, 'b'], [c, 'c (no watcher)']] as const) {
      const merged = await until(`both hosts on ${label}`, async () => { const n = (await names(p))[NGINX]; return n?.length === 2 ? n : undefined }, 20_000)
      t.same(merged.map(x => [x.host, x.role]), [['host-a', 'primary'], ['host-b', 'maintenance']], `${label}: the merged candidates, primary first whichever host has it`)
    }
    t.equal((await dig(dnsB, NGINX, 'A', '+short')).trim(), primaryIp, 'host b\'s DNS answers the container of host a')
    t.match(await dig(dnsB, '-x', primaryIp, '+short'), new RegExp(`nginx\\.bigco\\.${ZONE}\\.`), 'PTR for the other host\'s container')
    for (const [p, label] of [[a, 'a'], [b, 'b'], [c, 'c']] as const) {
      t.equal(await until(`page on ${label}`, async () => { const r = await body(p, 'bigco'); return r === 'primary' ? r : undefined }), 'primary', `${label} routes to the primary on host a`)
    }

    // Cluster health: /readyz, metrics, status page.
    const ready = async (p: Portico): Promise<Ready> => await (await fetch(`${p.adminUrl}/readyz`)).json() as Ready
    const metric = async (p: Portico, name: string): Promise<string | undefined> =>
      new RegExp(`^${name}\\{instance="[^"]+"\\} (\\S+)$`, 'm').exec(await (await fetch(`${p.adminUrl}/metrics`)).text())?.[1]
    const healthy = await ready(b)
    t.match(healthy, { status: 'ready', cluster: { connected: true, lease: /./, lastSync: /^\d{4}-/ } }, 'readyz: connected, a lease, a last sync')
    t.same([await metric(b, 'portico_cluster_connected'), await metric(b, 'portico_cluster_lease_held')], ['1', '1'], 'metrics: connected, lease held')
    const page = await (await fetch(`${b.adminUrl}/`)).text()
    t.match(page, /id="cluster">instance <b>host-b<\/b> · <span class="ok">etcd connected/, 'status page: cluster line')
    t.match(page, new RegExp(`<code>${primaryIp.replaceAll('.', '\\.')}</code> on host-a`), 'status page: the candidate\'s host')

    // etcd down: every instance keeps its last view; a container started meanwhile on host a
    // reaches the others once etcd is back (published again, mirrors resynced).
    await etcd.kill(0)
    const down = await until('b notices etcd is down', async () => { const r = await ready(b); return r.cluster?.connected === false ? r : undefined }, 15_000)
    t.equal(down.status, 'degraded', 'readyz: degraded (still serving), not unready')
    t.match(down.degraded, [/^cluster: etcd unreachable since/])
    t.equal(await metric(b, 'portico_cluster_connected'), '0', 'metrics: disconnected')
    t.match(await (await fetch(`${b.adminUrl}/`)).text(), /etcd unreachable/, 'status page: unreachable')
    await runWebContainer(d, image, 'acme-nginx', 'acme', ['--network', 'net-a'])
    await until('host a sees its new container', async () => (await names(a))[`nginx.acme.${ZONE}`] !== undefined ? true : undefined)
    t.equal(await body(b, 'bigco'), 'primary', 'etcd down: host b still serves the name from host a')
    t.equal((await dig(dnsB, NGINX, 'A', '+short')).trim(), primaryIp, 'etcd down: host b\'s DNS still answers it')
    t.equal((await names(c))[`nginx.acme.${ZONE}`], undefined, 'etcd down: the new container is not known elsewhere yet')
    await etcd.restart(0)
    for (const [p, label] of [[b, 'b'], [c, 'c']] as const) {
      t.equal(await until(`acme on ${label}`, async () => { const r = await body(p, 'acme'); return r === 'acme' ? r : undefined }, 30_000), 'acme', `etcd back: ${label} serves the name published meanwhile`)
    }
    const back = await until('b reconnected', async () => { const r = await ready(b); return r.status === 'ready' ? r : undefined }, 15_000)
    t.ok(BigInt(back.cluster?.revision ?? '0') > BigInt(healthy.cluster?.revision ?? '0'), 'resynced: a later revision')
    t.ok(Date.parse(back.cluster?.lastSync ?? '') > Date.parse(healthy.cluster?.lastSync ?? ''), 'resynced: a later last sync')

    // Host a dies: its lease expires (2 s) and its names drop out everywhere; host b's
    // maintenance container takes the traffic.
    await a.stop('SIGKILL')
    const killed = Date.now()
    const switched = await until('maintenance on b', async () => (await body(b, 'bigco')) === 'maintenance' ? Date.now() : undefined, 20_000)
    t.comment(`host a killed: host b serves the maintenance container ${switched - killed} ms later (lease_ttl 2 s)`)
    t.same((await names(b))[NGINX]?.map(x => x.host), ['host-b'], 'host a\'s candidates are gone')
    t.equal(await until('maintenance on c', async () => (await body(c, 'bigco')) === 'maintenance' ? true : undefined, 20_000), true, 'c fails over to host b too')
    t.equal((await send(c.ports.http!, 'acme.hpc.example.com')).status, 503, 'a name only host a had: gone with it')
    t.notOk((await dig(dnsB, NGINX, 'A', '+short')).includes(primaryIp), 'host b\'s DNS no longer answers host a\'s address')
  })
