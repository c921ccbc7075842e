import t from 'tap'
import { execFile } from 'node:child_process'
import { readlink } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort, makeTempDir, OK_ROUTES, runCli, startPortico, testConfig } from '../helpers/portico.js'
import { acmeConfig, startChallTestSrv, startPebble } from '../helpers/pebble.js'
import { requires } from '../helpers/required.js'
import { servedCertificate } from '../helpers/served-cert.js'

const run = promisify(execFile)

t.test('certbot store taken over in place and handed back: portico renews as certbot would, certbot reads and renews it afterwards', requires('command:pebble', 'command:pebble-challtestsrv', 'command:certbot'), async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const dns = await startChallTestSrv()
  t.teardown(dns.stop)
  const httpPort = await freePort()
  const pebble = await startPebble(dir, { dnsServer: dns.dns, httpPort })
  t.teardown(pebble.stop)
  const le = join(dir, 'letsencrypt')
  // certbot talks only to Pebble on loopback; its own files stay in the temp dir.
  const certbot = async (...args: string[]): Promise<{ stdout: string, stderr: string }> => await run('certbot', [
    ...args, '--config-dir', le, '--work-dir', join(dir, 'certbot-work'), '--logs-dir', join(dir, 'certbot-logs'), '--non-interactive'
  ], { env: { ...process.env, REQUESTS_CA_BUNDLE: pebble.caFile }, timeout: 120_000 })
  const standalone = ['--standalone', '--http-01-port', String(httpPort), '--http-01-address', '127.0.0.1', '--server', pebble.directory]
  await certbot('certonly', ...standalone, '--agree-tos', '--register-unsafely-without-email', '--cert-name', 'www.test', '-d', 'www.test')
  t.equal(await readlink(join(le, 'live', 'www.test', 'fullchain.pem')), '../../archive/www.test/fullchain1.pem', 'certbot issued version 1')

  // portico on the same store (acme.store_dir), renewing in place.
  const [httpsPort, adminPort] = [await freePort(), await freePort()]
  const p = await startPortico({
    dir,
    config: testConfig({
      admin: adminPort,
      access: true,
      listeners: [{ name: 'http', port: httpPort }, { name: 'https', tls: true, port: httpsPort }],
      extra: acmeConfig(pebble, '    - { name: www.test, domains: [www.test], challenge: http-01 }', `  store_dir: ${le}`),
      routes: OK_ROUTES
    })
  })
  t.teardown(() => p.stop('SIGKILL'))
  const fromCertbot = await servedCertificate(httpsPort, 'www.test')
  t.match(fromCertbot.issuer, /Pebble/, 'certbot\'s certificate is served as it is, no re-issue')
  const r = await runCli(['renew', '--force', '--config', p.configFile, 'www.test'], 120_000)
  t.equal(r.code, 0, r.stderr)
  const serial = /serial ([0-9A-F]+)/.exec(r.stdout)?.[1] ?? ''
  for (const f of ['cert', 'chain', 'fullchain', 'privkey']) {
    t.equal(await readlink(join(le, 'live', 'www.test', `${f}.pem`)), `../../archive/www.test/${f}2.pem`, `live/${f}.pem is still a symlink, now to version 2`)
  }
  await p.stop()

  // Rollback: certbot reads the store offline, then renews it itself.
  const listed = await certbot('certificates')
  t.match(listed.stdout, /Certificate Name: www\.test/)
  t.match(listed.stdout.replace(/\s+/g, ' '), new RegExp(`Serial Number: ${serial.toLowerCase().replace(/^0+/, '')}`), 'certbot sees portico\'s certificate')
  t.notMatch(listed.stdout + listed.stderr, /invalid|error|skipped/i)
  // certbot renew sleeps up to 8 minutes when not on a terminal, unless told not to.
  await certbot('renew', '--force-renewal', '--no-random-sleep-on-renew', '--cert-name', 'www.test', ...standalone.slice(0, 5))
  t.equal(await readlink(join(le, 'live', 'www.test', 'fullchain.pem')), '../../archive/www.test/fullchain3.pem', 'certbot renewed after portico: version 3')
})
