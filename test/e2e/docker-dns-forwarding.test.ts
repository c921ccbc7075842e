import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { httpConfig, startPortico } from '../helpers/portico.js'
import { containerIp, importBusybox, startDockerd } from '../helpers/dockerd.js'
import { startDnsmasq } from '../helpers/dnsmasq.js'
import { requires } from '../helpers/required.js'
import { until } from '../helpers/wait.js'

const run = promisify(execFile)
const ZONE = 'hpc.test'

t.test('a container resolves through portico: its zone locally, other names forwarded, PTR; only watched networks recurse',
  requires('root', 'command:dockerd', 'command:dig', 'command:dnsmasq'), async t => {
    const d = await startDockerd()
    t.teardown(() => d.stop())
    const image = await importBusybox(d)
    const third = 1 + Math.floor(Math.random() * 254)
    // The watched network, and one portico does not watch (docker.network picks the first).
    const [gateway, otherGateway] = [`172.31.${third}.1`, `172.30.${third}.1`]
    await d.docker('network', 'create', '--subnet', `172.31.${third}.0/24`, '--gateway', gateway, 'watched')
    await d.docker('network', 'create', '--subnet', `172.30.${third}.0/24`, '--gateway', otherGateway, 'other')
    const dnsmasq = await startDnsmasq('127.0.0.2', ['--local-ttl=60', '--address=/a.fwd.test/192.0.2.10', '--ptr-record=10.2.0.192.in-addr.arpa,host.fwd.test'])
    t.teardown(() => dnsmasq.stop())
    // Port 53 on the watched network's gateway: busybox nslookup cannot ask another port.
    const p = await startPortico({
      config: httpConfig(`
  - name: ok
    host: ok.test
    respond: { status: 200 }`, `
docker: { endpoint: "${d.endpoint}", zone: ${ZONE}, network: watched }
dns: { address: "${gateway}:53", forwarders: ["127.0.0.2:${dnsmasq.port}"] }`)
    })
    t.teardown(() => p.stop('SIGKILL'))
    const dig = async (...args: string[]): Promise<string> => (await run('dig', [`@${gateway}`, '-p', '53', '+time=2', '+tries=1', ...args], { timeout: 10_000 })).stdout

    await d.docker('run', '-d', '--name', 'x-client', '--network', 'watched', image, 'sleep', '600')
    const ip = await containerIp(d, 'x-client')
    await until('the container\'s name', async () => (await dig(`client.x.${ZONE}`, '+short')).trim() === ip ? true : undefined)
    // Its output whatever the exit code (busybox exits 1 when one of its A/AAAA queries fails).
    const nslookup = async (name: string): Promise<string> => await d.docker('exec', 'x-client', 'sh', '-c', `/bin/busybox nslookup ${name} ${gateway} 2>&1; true`)

    t.match(await nslookup('a.fwd.test'), /Address:\s+192\.0\.2\.10/, 'from inside the container a name outside the zone is forwarded')
    t.equal(dnsmasq.queries('a.fwd.test', 'A'), 1, 'dnsmasq was asked once')
    t.match(await nslookup(`client.x.${ZONE}`), new RegExp(`Address:\\s+${ip.replaceAll('.', '\\.')}`), 'its own zone answered locally')
    t.match(await nslookup(ip), new RegExp(`name = client\\.x\\.${ZONE}`), 'PTR of the container address from the Docker table')
    t.equal(dnsmasq.queries(ip.split('.').reverse().join('.') + '.in-addr.arpa'), 0, 'never forwarded')

    t.match(await dig('-b', otherGateway, 'a.fwd.test'), /status: REFUSED/, 'a client on a network portico does not watch: REFUSED')
    t.match(await dig('-b', otherGateway, `client.x.${ZONE}`, '+short'), new RegExp(`^${ip.replaceAll('.', '\\.')}$`, 'm'), 'the zone still answered to it')
    t.match(await nslookup('192.0.2.10'), /name = host\.fwd\.test/, 'PTR for an address of no container: forwarded')
    t.equal(dnsmasq.queries('10.2.0.192.in-addr.arpa', 'PTR'), 1, 'to dnsmasq')
  })
