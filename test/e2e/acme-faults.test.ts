import t from 'tap'
import { createHash } from 'node:crypto'
import { chmod, mkdir, readlink, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { freePort, makeTempDir, OK_ROUTES, runCli, startPortico, testConfig, type Portico } from '../helpers/portico.js'
import { acmeConfig, http01Ca, http01Config, startChallTestSrv, startPebble } from '../helpers/pebble.js'
import { figure } from '../helpers/figures.js'
import { requires } from '../helpers/required.js'
import { servedCertificate } from '../helpers/served-cert.js'
import { makePki } from '../helpers/pki.js'

interface CertRow { name: string, failures: number, lastError: string | null, retrying: boolean, orders: { ok: number, failed: number }, storeProblem: string | null }
const certs = async (p: Portico): Promise<CertRow[]> => await (await fetch(`${p.adminUrl}/certs`)).json() as CertRow[]
const issued = (name: string) => (l: { msg?: string, reason?: unknown }): boolean => l.msg === 'config reloaded' && l.reason === `certificate issued: ${name}`
const REQUIRES = requires('command:pebble', 'command:pebble-challtestsrv')
const FIXTURES = resolve(import.meta.dirname, '../fixtures')

t.test('a CA stalled mid-order (SIGSTOP): the request times out with a logged reason, the retry timer renews once the CA is back', requires('command:pebble', 'command:pebble-challtestsrv', 'command:curl'), async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const dns = await startChallTestSrv()
  t.teardown(dns.stop)
  const pebble = await startPebble(dir, { dnsServer: dns.dns, httpPort: await freePort() })
  t.teardown(pebble.stop)
  t.teardown(() => pebble.signal('SIGCONT'))
  // The DNS-01 hook publishes into challtestsrv; once (marker file) it first stops Pebble: the
  // order is in flight, its next request (the challenge response) meets a CA that answers nothing.
  const hook = join(dir, 'stall-hook.sh')
  const marker = join(dir, 'stall')
  await writeFile(hook, `#!/bin/sh\nif [ "$1" = present ] && [ -e ${marker} ]; then rm -f ${marker}; kill -STOP ${pebble.pid}; fi\nexec ${FIXTURES}/exec-hook.sh "$@"\n`)
  await chmod(hook, 0o755)
  const [httpsPort, adminPort] = [await freePort(), await freePort()]
  const p = await startPortico({
    dir,
    env: { HOOK_LOG: join(dir, 'hook.log'), CHALLTESTSRV: dns.api },
    config: testConfig({
      admin: adminPort,
      access: true,
      listeners: [{ name: 'https', tls: true, port: httpsPort }],
      extra: acmeConfig(pebble, '    - { name: www.test, domains: [www.test], provider: exec }', `  request_timeout: 2s\n  order_timeout: 8s\n  exec: { command: ${hook} }`),
      routes: OK_ROUTES
    })
  })
  t.teardown(() => p.stop('SIGKILL'))
  await p.waitForLog(issued('www.test'), 60_000)
  const first = await servedCertificate(httpsPort, 'www.test')

  await writeFile(marker, '')
  const started = Date.now()
  const r = await runCli(['renew', '--force', '--config', p.configFile, 'www.test'], 60_000)
  const took = Date.now() - started
  t.equal(r.code, 1, 'the forced renew fails instead of hanging')
  t.ok(took < 30_000, `answered in ${took} ms (request timeout 2 s, order deadline 8 s)`)
  t.match(r.stderr, /renew www\.test failed: .*(timeout|did not finish)/i, r.stderr.trim())
  const failed = p.logs.find(l => l.msg === 'acme: order failed; will retry')
  t.match(String(failed?.err), /timeout|did not finish/i, 'logged with the reason')
  const row = (await certs(p))[0]!
  t.ok(row.failures >= 1 && row.retrying, `/certs: ${row.failures} failure(s), retrying`)
  t.equal((await servedCertificate(httpsPort, 'www.test')).serial, first.serial, 'the issued certificate keeps serving')

  const from = p.logs.length
  pebble.signal('SIGCONT')
  // Nobody asks again: the retry timer alone must renew.
  await p.waitForLog(issued('www.test'), 40_000, from)
  t.not((await servedCertificate(httpsPort, 'www.test')).serial, first.serial, 'renewed by the retry timer after the CA came back')
  figure({ case: 'ACME: CA stalled mid-order', tried: 'Pebble SIGSTOPped between the DNS-01 hook and the challenge response; forced renew', count: 1, result: `renew failed after ${took} ms with "${r.stderr.trim()}"; renewed by the retry timer after SIGCONT` })
})

t.test('a stuck DNS hook delays only its own name; a renewal queued behind a running order re-checks whether it is still due', REQUIRES, async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const ca = await http01Ca(t, dir)
  const hook = join(dir, 'stuck-hook.sh')
  await writeFile(hook, '#!/bin/sh\n[ "$1" = present ] && sleep 25\nexit 0\n')
  await chmod(hook, 0o755)
  const config = http01Config(ca, { routes: OK_ROUTES, acmeExtra: `  order_timeout: 40s\n  exec: { command: ${hook} }` })
    .replace('    - { name: www.test', '    - { name: slow.test, domains: [slow.test], challenge: dns-01, provider: exec }\n    - { name: www.test')
  const p = await startPortico({ dir, config })
  t.teardown(() => p.stop('SIGKILL'))
  await p.waitForLog(l => l.msg === 'acme: ordering certificate' && l.name === 'www.test', 20_000)
  // www.test's first order runs; a second (unforced) renewal waits behind it.
  const queued = runCli(['renew', '--config', p.configFile, 'www.test'], 60_000)
  await p.waitForLog(issued('www.test'), 20_000)
  t.notOk(p.logs.some(l => l.msg === 'acme: order failed; will retry' && l.name === 'slow.test'), 'www.test was issued while slow.test is still stuck in its hook')
  const second = await queued
  t.equal(second.code, 0, second.stderr)
  t.match(second.stdout, /not due/, 'the queued renewal found the certificate fresh')
  t.equal(p.logs.filter(l => l.msg === 'acme: ordering certificate' && l.name === 'www.test').length, 1, 'one order for www.test')
})

t.test('a bad pair dropped into the store never replaces the served certificate; it is re-issued', REQUIRES, async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const ca = await http01Ca(t, dir)
  const p = await startPortico({ dir, config: http01Config(ca, { routes: OK_ROUTES }) })
  t.teardown(() => p.stop('SIGKILL'))
  await p.waitForLog(issued('www.test'), 60_000)
  const first = await servedCertificate(ca.httpsPort, 'www.test')
  const live = join(p.dir, 'state', 'live', 'www.test')
  t.equal(await readlink(join(live, 'privkey.pem')), '../../archive/www.test/privkey1.pem')
  const from = p.logs.length
  // As an operator would: copy another key over live/privkey.pem (written through the link).
  await writeFile(join(live, 'privkey.pem'), makePki(['other.test']).key)
  const refused = await p.waitForLog(l => l.msg === 'certificate store: pair refused, the working certificate stays', 10_000, from)
  t.match(String(refused.problem), /www\.test: the private key does not match/)
  const during = await servedCertificate(ca.httpsPort, 'www.test')
  t.equal(during.serial, first.serial, 'still the issued certificate, not the self-signed stand-in')
  t.match(during.issuer, /Pebble/)
  // The repair: a new version, so a restart cannot lose the certificate.
  await p.waitForLog(issued('www.test'), 30_000, from)
  const repaired = await servedCertificate(ca.httpsPort, 'www.test')
  t.not(repaired.serial, first.serial)
  t.match(repaired.issuer, /Pebble/)
  t.equal(await readlink(join(live, 'privkey.pem')), '../../archive/www.test/privkey2.pem')
})

t.test('a malformed account key: the error names the file', REQUIRES, async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const ca = await http01Ca(t, dir)
  const keyFile = join(dir, 'state', 'acme', 'accounts', `${createHash('sha256').update(ca.pebble.directory).digest('hex').slice(0, 16)}.key`)
  await mkdir(join(keyFile, '..'), { recursive: true })
  await writeFile(keyFile, '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n')
  const p = await startPortico({ dir, config: http01Config(ca, { routes: OK_ROUTES }) })
  t.teardown(() => p.stop('SIGKILL'))
  const failed = await p.waitForLog(l => l.msg === 'acme: order failed; will retry', 30_000)
  t.match(String(failed.err), `ACME account key ${keyFile} is not a PEM private key`)
  t.match((await certs(p))[0]!.lastError, keyFile, 'shown in /certs')
})

t.test('renew --dry-run orders from the staging directory: nothing stored, swapped or counted', REQUIRES, async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const ca = await http01Ca(t, dir)
  const stagingDir = join(dir, 'staging')
  await mkdir(stagingDir)
  const staging = await startPebble(stagingDir, { dnsServer: ca.dns, httpPort: ca.httpPort, sameTlsAs: ca.pebble })
  t.teardown(staging.stop)
  const config = http01Config(ca, { routes: OK_ROUTES, acmeExtra: `  staging_directory: ${staging.directory}` })
  const p = await startPortico({ dir, config })
  t.teardown(() => p.stop('SIGKILL'))
  await p.waitForLog(issued('www.test'), 60_000)
  const served = await servedCertificate(ca.httpsPort, 'www.test')
  const live = join(p.dir, 'state', 'live', 'www.test', 'fullchain.pem')
  const version = await readlink(live)

  const dry = await runCli(['renew', '--dry-run', '--config', p.configFile, 'www.test'], 120_000)
  t.equal(dry.code, 0, dry.stderr)
  t.match(dry.stdout, new RegExp(`dry run for www\\.test succeeded: ${staging.directory.replace(/[./]/g, '\\$&')} issued serial [0-9A-F]+; nothing was stored or swapped`))
  t.equal(await readlink(live), version, 'the store is untouched')
  t.equal((await servedCertificate(ca.httpsPort, 'www.test')).serial, served.serial, 'the served certificate is unchanged')

  await staging.stop()
  const down = await runCli(['renew', '--dry-run', '--config', p.configFile, 'www.test'], 120_000)
  t.equal(down.code, 1)
  t.match(down.stderr, /dry run for www\.test failed: .*unreachable/)
  t.match((await certs(p))[0], { failures: 0, retrying: false }, 'a failed dry run is not a renewal failure')
})
