import t, { type Test } from 'tap'
import { X509Certificate, randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { etcdForTest, type EtcdCluster } from '../helpers/etcd.js'
import { freePort, makeTempDir, OK_ROUTES, runCli, startPortico, testConfig, type Portico } from '../helpers/portico.js'
import { makePki } from '../helpers/pki.js'
import { acmeConfig, http01Ca, startChallTestSrv, startPebble, type Http01Ca } from '../helpers/pebble.js'
import { tcpBalancer, udpBalancer } from '../helpers/balancer.js'
import { requires } from '../helpers/required.js'
import { servedCertificate } from '../helpers/served-cert.js'
import { until } from '../helpers/wait.js'

// Two portico instances on one real etcd, ordering from Pebble: one order per name cluster-wide,
// the HTTP-01 answer served by whichever instance the load balancer sends the CA to.

const PREFIX = '/portico-acme/'
const NEEDS = requires('command:etcd', 'command:pebble', 'command:pebble-challtestsrv')

interface Instance { name: string, http: number, https: number, dir: string, config: string, p?: Portico }

interface Setup { etcd: EtcdCluster, raw: Etcd3, ca: Http01Ca, a: Instance, b: Instance }

/** etcd, Pebble (resolving every name to 127.0.0.1, validating on ca.httpPort) and two instances configured alike. */
async function setup (t: Test): Promise<Setup> {
  const { etcd, raw } = await etcdForTest(t)
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const ca = await http01Ca(t, dir)
  const secret = join(dir, 'cluster.key')
  await writeFile(secret, randomBytes(32).toString('hex'), { mode: 0o600 })
  const instance = async (name: string): Promise<Instance> => {
    const own = await makeTempDir()
    t.teardown(own.cleanup)
    const [http, https] = [await freePort(), await freePort()]
    const config = testConfig({
      listeners: [{ name: 'http', port: http }, { name: 'https', tls: true, port: https }],
      extra: `cluster: { endpoints: [${etcd.endpoints.join(', ')}], name: ${name}, prefix: ${PREFIX}, lease_ttl: 5s, dial_timeout: 1s, secret_file: ${secret} }\n` +
        acmeConfig(ca.pebble, '    - { name: www.test, domains: [www.test], challenge: http-01 }'),
      routes: OK_ROUTES
    })
    return { name, http, https, dir: own.dir, config }
  }
  return { etcd, raw, ca, a: await instance('edge-a'), b: await instance('edge-b') }
}

async function start (t: Test, i: Instance): Promise<Portico> {
  const p = await startPortico({ dir: i.dir, config: i.config })
  i.p = p
  t.teardown(async () => { await p.stop('SIGKILL') })
  return p
}

const count = (p: Portico | undefined, msg: string): number => p?.logs.filter(l => l.msg === msg).length ?? 0

async function servesPebble (i: Instance): Promise<string> {
  return await until(`${i.name} serves the issued certificate`, async () => {
    const c = await servedCertificate(i.https, 'www.test')
    return /Pebble/.test(c.issuer) ? c.serial : undefined
  }, 90_000, 200)
}

t.test('one order for a name shared by both instances; HTTP-01 answered by the one that did not order', NEEDS, async t => {
  const { raw, ca, a, b } = await setup(t)
  const lockHolder = async (): Promise<string | null> => await raw.get(`${PREFIX}locks/acme/www.test`).string()
  // The load balancer in front of the cluster sends the CA's validation to the instance NOT holding the order lock.
  const lb = await tcpBalancer(t, '127.0.0.1', ca.httpPort, async () => (await lockHolder()) === a.name ? b.http : a.http)
  await Promise.all([start(t, a), start(t, b)])

  const [serialA, serialB] = await Promise.all([servesPebble(a), servesPebble(b)])
  t.equal(serialA, serialB, 'both instances serve the same certificate')
  const orders = count(a.p, 'acme: ordering certificate') + count(b.p, 'acme: ordering certificate')
  t.equal(orders, 1, 'one order cluster-wide')
  const [orderer, other] = count(a.p, 'acme: ordering certificate') === 1 ? [a, b] : [b, a]
  t.equal(count(orderer.p, 'acme: certificate issued'), 1)
  t.equal(count(other.p, 'acme: certificate from the cluster installed'), 1, 'the other instance installed it from etcd')
  t.ok(lb.sent.length > 0, 'the CA validated through the load balancer')
  t.ok(lb.sent.every(port => port === other.http), 'every validation reached the instance that did not order')

  const stored = JSON.parse(await raw.get(`${PREFIX}certs/www.test`).string() ?? '{}') as { fullchain: string, key: string, by: string }
  t.equal(stored.by, orderer.name)
  t.match(stored.fullchain, /BEGIN CERTIFICATE/)
  t.match(stored.key, /^v1\./, 'the private key is sealed')
  t.notMatch(stored.key, /PRIVATE KEY/)
  t.equal(await lockHolder(), null, 'the lock was released')
  t.equal((await raw.getAll().prefix(`${PREFIX}challenges/`).keys()).length, 0, 'the challenge answers were withdrawn')
})

t.test('the lock holder killed mid-order: the other orders once its lease expired, and a restarted instance takes the result', NEEDS, async t => {
  const { raw, ca, a, b } = await setup(t)
  let killed: { victim: Instance, survivor: Instance, at: number } | undefined
  const lb = await tcpBalancer(t, '127.0.0.1', ca.httpPort, async () => {
    if (killed === undefined) {
      // The CA's first validation: the holder is mid-order. Kill it, and let the other answer.
      const holder = await raw.get(`${PREFIX}locks/acme/www.test`).string()
      const [victim, survivor] = holder === a.name ? [a, b] : [b, a]
      await victim.p?.stop('SIGKILL')
      killed = { victim, survivor, at: Date.now() }
    }
    return killed.survivor.http
  })
  await Promise.all([start(t, a), start(t, b)])
  const deadline = await until('the holder was killed', async () => killed, 60_000)
  const { victim, survivor } = deadline
  const serial = await servesPebble(survivor)
  t.equal(count(victim.p, 'acme: certificate issued'), 0, 'the killed holder never finished')
  t.equal(count(survivor.p, 'acme: ordering certificate'), 1, 'the survivor ordered once', { logs: survivor.p?.logs.filter(l => String(l.msg).startsWith('acme') || String(l.msg).startsWith('cluster')).map(l => `${String(l.time)} ${String(l.msg)} ${String(l.err ?? l.holder ?? '')}`) })
  t.equal(count(survivor.p, 'acme: certificate issued'), 1)
  const ordered = Date.parse(String(survivor.p?.logs.find(l => l.msg === 'acme: ordering certificate')?.time))
  t.ok(ordered >= deadline.at, 'the survivor ordered only after the holder died (never two orders at once)')
  t.ok(lb.sent.length >= 2)

  // The killed instance comes back: it takes the certificate from etcd and orders nothing.
  const back = await start(t, victim)
  await until('the restarted instance serves the cluster\'s certificate', async () => (await servedCertificate(victim.https, 'www.test')).serial === serial ? true : undefined, 30_000, 200)
  t.equal(count(back, 'acme: ordering certificate'), 0, 'no second order')
})

t.test('a wildcard through the builtin DNS-01 provider: the CA asks the instance that did not order', NEEDS, async t => {
  const { etcd, raw } = await etcdForTest(t)
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const secret = join(dir, 'cluster.key')
  await writeFile(secret, randomBytes(32).toString('hex'), { mode: 0o600 })
  const [dnsA, dnsB, caDns] = [await freePort(), await freePort(), await freePort()]
  const ports: Record<string, number> = { 'edge-a': dnsA, 'edge-b': dnsB }
  // Pebble's resolver reaches the cluster through a balancer that picks the instance NOT holding the order lock.
  const holder = async (): Promise<string | null> => await raw.get(`${PREFIX}locks/acme/uap.test`).string()
  const lb = await udpBalancer(t, caDns, async () => (await holder()) === 'edge-a' ? dnsB : dnsA)
  const pebble = await startPebble(dir, { dnsServer: `127.0.0.1:${caDns}`, httpPort: await freePort() })
  t.teardown(pebble.stop)
  const nameservers = `[127.0.0.1:${dnsA}, 127.0.0.1:${dnsB}]`
  const instance = async (name: string): Promise<Instance> => {
    const own = await makeTempDir()
    t.teardown(own.cleanup)
    const https = await freePort()
    const config = testConfig({
      listeners: [{ name: 'https', tls: true, port: https }],
      extra: `dns: { address: "127.0.0.1:${ports[name] ?? 0}" }\n` +
        `cluster: { endpoints: [${etcd.endpoints.join(', ')}], name: ${name}, prefix: ${PREFIX}, lease_ttl: 5s, dial_timeout: 1s, secret_file: ${secret} }\n` +
        acmeConfig(pebble, '    - { name: uap.test, domains: ["*.uap.test", uap.test], challenge: dns-01, provider: builtin }',
          `  propagation: { nameservers: ${nameservers}, interval: 100ms, timeout: 30s }`),
      routes: OK_ROUTES
    })
    return { name, http: 0, https, dir: own.dir, config }
  }
  const [a, b] = [await instance('edge-a'), await instance('edge-b')]
  await Promise.all([start(t, a), start(t, b)])
  const issued = async (i: Instance): Promise<string> => await until(`${i.name} serves the wildcard`, async () => {
    const c = await servedCertificate(i.https, 'x.uap.test')
    return /Pebble/.test(c.issuer) ? c.serial : undefined
  }, 90_000, 200)
  const [serialA, serialB] = await Promise.all([issued(a), issued(b)])
  t.equal(serialA, serialB, 'both instances serve the same wildcard certificate')
  const [orderer, other] = count(a.p, 'acme: ordering certificate') >= 1 ? [a, b] : [b, a]
  t.equal(count(a.p, 'acme: ordering certificate') + count(b.p, 'acme: ordering certificate'), 1, 'one order cluster-wide')
  t.equal(count(orderer.p, 'acme: order failed; will retry') + count(other.p, 'acme: order failed; will retry'), 0, 'no failed attempt')
  t.ok(lb.sent.length > 0, 'the CA resolved through the balancer')
  t.ok(lb.sent.every(port => port === ports[other.name]), 'every CA query reached the instance that did not order')
})

t.test('etcd down at renewal time: the certificate keeps serving, the renewal waits and resumes when etcd is back', NEEDS, async t => {
  const { etcd } = await etcdForTest(t)
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const secret = join(dir, 'cluster.key')
  await writeFile(secret, randomBytes(32).toString('hex'), { mode: 0o600 })
  const dns = await startChallTestSrv()
  t.teardown(dns.stop)
  const [http, https] = [await freePort(), await freePort()]
  // 30 s certificates: renewal is due when a third remains, so etcd's outage spans the renewal time.
  const pebble = await startPebble(dir, { dnsServer: dns.dns, httpPort: http, validitySeconds: 30 })
  t.teardown(pebble.stop)
  const i: Instance = {
    name: 'edge-a',
    http,
    https,
    dir,
    config: testConfig({
      listeners: [{ name: 'http', port: http }, { name: 'https', tls: true, port: https }],
      extra: `cluster: { endpoints: [${etcd.endpoints.join(', ')}], name: edge-a, prefix: ${PREFIX}, lease_ttl: 5s, dial_timeout: 1s, secret_file: ${secret} }\n` +
        acmeConfig(pebble, '    - { name: www.test, domains: [www.test], challenge: http-01 }'),
      routes: OK_ROUTES
    })
  }
  const p = await start(t, i)
  const first = await until('the first certificate', async () => {
    const c = await servedCertificate(https, 'www.test')
    return /Pebble/.test(c.issuer) ? c : undefined
  }, 60_000, 200)
  await etcd.kill(0)
  const down = Date.now()
  await p.waitForLog(l => l.msg === 'acme: order failed; will retry' && Date.parse(String(l.time)) >= down, 40_000)
  const during = await servedCertificate(https, 'www.test')
  t.equal(during.serial, first.serial, 'while etcd is down the issued certificate keeps serving')
  t.ok(during.notAfter > Date.now(), 'and it has not lapsed')
  await etcd.restart(0)
  const back = Date.now()
  const renewed = await until('the renewal after etcd returned', async () => {
    const c = await servedCertificate(https, 'www.test')
    return c.serial !== first.serial && /Pebble/.test(c.issuer) ? c : undefined
  }, 60_000, 200)
  // The backoff (retry.max 10 s) and a new lease bound the wait; the 30 s certificate itself may lapse meanwhile at
  // this time scale, so the test asserts the resumption, not the margin.
  t.ok(Date.now() - back < 30_000, `renewed ${Date.now() - back} ms after etcd returned (backoff ≤ 10 s + a new lease)`)
  t.ok(renewed.notAfter > first.notAfter)
})

t.test('portico certs import: a certbot live/ dir moved into etcd, served by a new instance without an order', requires('command:etcd'), async t => {
  const { etcd, raw } = await etcdForTest(t)
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const pki = makePki(['www.test'])
  const live = join(dir, 'letsencrypt', 'live')
  await mkdir(join(live, 'www.test'), { recursive: true })
  await mkdir(join(live, 'other.test'), { recursive: true })
  await writeFile(join(live, 'www.test', 'fullchain.pem'), pki.cert + pki.caCert)
  await writeFile(join(live, 'www.test', 'privkey.pem'), pki.key)
  const secret = join(dir, 'cluster.key')
  await writeFile(secret, randomBytes(32).toString('base64'), { mode: 0o600 })
  const https = await freePort()
  // Nothing answers at the directory: an order would fail loudly.
  const config = testConfig({
    listeners: [{ name: 'https', tls: true, port: https }],
    extra: `cluster: { endpoints: [${etcd.endpoints[0]}], name: edge-new, prefix: ${PREFIX}, lease_ttl: 2s, secret_file: ${secret} }\n` +
      acmeConfig({ directory: `https://127.0.0.1:${await freePort()}/dir`, caFile: join(dir, 'none.pem') }, '    - { name: www.test, domains: [www.test], challenge: http-01 }').replace(/  ca_file: .*\n/, ''),
    routes: OK_ROUTES
  })
  const configFile = join(dir, 'portico.yaml')
  await writeFile(configFile, config.replace('${STATE}', join(dir, 'state')))
  const imported = await runCli(['certs', 'import', '--config', configFile, live])
  t.equal(imported.code, 0, imported.stderr + imported.stdout)
  t.match(imported.stdout, /^imported www\.test: serial /m)
  t.match(imported.stdout, /^skipped other\.test: not an acme certificate of this config$/m)
  t.match(JSON.parse(await raw.get(`${PREFIX}certs/www.test`).string() ?? '{}'), { key: /^v1\./ }, 'stored, key sealed')
  const again = await runCli(['certs', 'import', '--config', configFile, live])
  t.match(again.stdout, /^kept www\.test: the cluster already holds/m, 'importing twice keeps what is there')

  const p = await startPortico({ dir, config })
  t.teardown(async () => { await p.stop('SIGKILL') })
  const expected = new X509Certificate(pki.cert).serialNumber
  await until('the instance serves the imported certificate', async () => (await servedCertificate(https, 'www.test')).serial === expected ? true : undefined, 20_000, 200)
  t.equal(count(p, 'acme: ordering certificate'), 0, 'no order')
})
