import t from 'tap'
import tls from 'node:tls'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { freePort, makeTempDir, OK_ROUTES, runCli, startPortico, testConfig } from '../helpers/portico.js'
import { acmeConfig, startPebble, startChallTestSrv, http01Ca, http01Config } from '../helpers/pebble.js'
import { requires } from '../helpers/required.js'
import { send } from '../helpers/http.js'
import { figure } from '../helpers/figures.js'

interface Served { serial: string, san: string, issuer: string }

async function served (port: number, servername: string, keep = false): Promise<Served & { socket?: tls.TLSSocket }> {
  return await new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const c = s.getPeerX509Certificate()
      resolve({ serial: c?.serialNumber ?? '', san: c?.subjectAltName ?? '', issuer: c?.issuer ?? '', ...(keep ? { socket: s } : {}) })
      if (!keep) s.end()
    })
    s.on('error', reject)
  })
}

t.test('DNS-01 through the builtin DNS server: wildcard + apex, renewal hot-swapped', requires('command:pebble'), async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const dnsPort = await freePort()
  const httpsPort = await freePort()
  // Short-lived certificates (30 s): renewal is due when a third (10 s) remains.
  const pebble = await startPebble(dir, { dnsServer: `127.0.0.1:${dnsPort}`, httpPort: await freePort(), validitySeconds: 30 })
  t.teardown(pebble.stop)
  const p = await startPortico({
    dir,
    config: testConfig({
      admin: true,
      access: true,
      listeners: [{ name: 'https', tls: true, port: httpsPort }],
      extra: `dns: { address: "127.0.0.1:${dnsPort}" }\n${acmeConfig(pebble, '    - { name: uap.test, domains: ["*.uap.test", uap.test], challenge: dns-01, provider: builtin }')}`,
      routes: OK_ROUTES
    })
  })
  t.teardown(() => p.stop('SIGKILL'))
  const placeholder = await served(httpsPort, 'x.uap.test')
  t.match(placeholder.issuer, /portico self-signed/, 'a stand-in certificate serves until the first issuance')
  await p.waitForLog(l => l.msg === 'config reloaded' && String(l.reason) === 'certificate issued: uap.test', 60_000)
  const first = await served(httpsPort, 'x.uap.test', true)
  t.match(first.issuer, /Pebble/, 'issued by Pebble')
  t.match(first.san, /DNS:\*\.uap\.test/)
  t.match(first.san, /DNS:uap\.test/)
  t.equal((await send(httpsPort, 'uap.test', { tls: true })).body, 'ok')
  const live = join(p.dir, 'state', 'live', 'uap.test')
  for (const f of ['fullchain.pem', 'privkey.pem', 'chain.pem', 'cert.pem']) t.ok((await stat(join(live, f))).isFile(), `certbot layout: ${f}`)
  t.equal((await stat(join(live, 'privkey.pem'))).mode & 0o777, 0o600, 'key is 0600')
  const certs = await runCli(['certs', '--config', p.configFile])
  t.match(certs.stdout, /uap\.test\s+\*\.uap\.test,uap\.test\s+Pebble/, 'portico certs lists it')

  // Automatic renewal of the short-lived certificate, swapped in under an open connection.
  const from = p.logs.length
  await p.waitForLog(l => l.msg === 'config reloaded' && String(l.reason) === 'certificate issued: uap.test', 60_000, from)
  const second = await served(httpsPort, 'x.uap.test')
  t.not(second.serial, first.serial, 'a new connection gets the renewed certificate')
  t.equal(first.socket?.destroyed, false, 'the open connection was not dropped')
  first.socket?.end()
  const status = await (await fetch(`${p.adminUrl}/certs`)).json() as Array<{ name: string, serial: string, failures: number }>
  t.match(status[0], { name: 'uap.test', failures: 0 })
})

t.test('HTTP-01 on the HTTP listener of two workers; forced renew through the CLI', requires('command:pebble', 'command:pebble-challtestsrv'), async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const ca = await http01Ca(t, dir)
  const { httpsPort } = ca
  // Worker processes: the HTTP-01 answer and the issued certificate must reach both.
  const p = await startPortico({ dir, config: http01Config(ca, { top: 'workers: 2', routes: '  - { host: "*", https_redirect: true, respond: { body: ok } }' }) })
  t.teardown(() => p.stop('SIGKILL'))
  await p.waitForLog(l => l.msg === 'config reloaded' && String(l.reason) === 'certificate issued: www.test', 60_000)
  const first = await served(httpsPort, 'www.test')
  t.match(first.issuer, /Pebble/, 'issued over HTTP-01 despite the https redirect')
  const r = await runCli(['renew', '--force', '--config', p.configFile, 'www.test'], 120_000)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /^renewed www\.test: serial /)
  await p.waitForLog(l => l.msg === 'config reloaded' && String(l.reason) === 'certificate issued: www.test', 20_000, p.logs.findIndex(l => l.msg === 'acme: certificate issued') + 1)
  const second = await served(httpsPort, 'www.test')
  t.not(second.serial, first.serial, 'forced renewal swapped in')
  const notDue = await runCli(['renew', '--config', p.configFile, 'www.test'])
  t.equal(notDue.code, 0, 'renew without --force when not due is a no-op')
})

t.test('CA unreachable: failure backoff is persisted across restarts', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const dead = await freePort()
  const cfg = testConfig({
    admin: true,
    access: true,
    extra: `dns: { address: "127.0.0.1:0" }\n${acmeConfig({ directory: `https://127.0.0.1:${dead}/dir`, caFile: join(dir, 'none.pem') }, '    - { name: down.test, domains: [down.test] }').replace(/ {2}ca_file: .*\n/, '')}`
  })
  const p = await startPortico({ dir, config: cfg })
  t.teardown(() => p.stop('SIGKILL'))
  await p.waitForLog(l => l.msg === 'acme: order failed; will retry', 20_000)
  const status = await (await fetch(`${p.adminUrl}/certs`)).json() as Array<{ failures: number, lastError: string, nextRenewal: string }>
  t.ok(status[0]!.failures >= 1)
  t.match(status[0]!.lastError, /ECONNREFUSED|connect/)
  await p.stop()
  const again = await startPortico({ dir, config: cfg })
  t.teardown(() => again.stop('SIGKILL'))
  const restored = await (await fetch(`${again.adminUrl}/certs`)).json() as Array<{ failures: number }>
  t.ok(restored[0]!.failures >= 1, 'failure count survived the restart')
  const certs = await runCli(['certs', '--config', again.configFile])
  // The operator view: the stand-in being served, the retry time (not "now"), the failure count and the last error.
  t.match(certs.stdout, /down\.test\s+down\.test\s+\(not issued yet: self-signed stand-in\)\s+-\s+-\s+retry \S+Z\s+[1-9]\d*\s+acme \(\S+placeholder\S+\)\s+ACME directory \S+ unreachable: ECONNREFUSED/)
  figure({ case: 'CA unreachable', tried: 'ACME directory on a closed port, then a restart', count: 1, result: `order failed with "${status[0]!.lastError}" and is retried later; failure count ${restored[0]!.failures} kept across the restart` })
})

t.test('CA gone during a renewal: the attempt fails with the reason, the served certificate stays, the CA back → renewed', requires('command:pebble', 'command:pebble-challtestsrv'), async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const ca = await http01Ca(t, dir)
  const { pebble, dns, httpPort, httpsPort } = ca
  const p = await startPortico({ dir, config: http01Config(ca, { routes: OK_ROUTES }) })
  t.teardown(() => p.stop('SIGKILL'))
  await p.waitForLog(l => l.msg === 'config reloaded' && String(l.reason) === 'certificate issued: www.test', 60_000)
  const first = await served(httpsPort, 'www.test')

  await pebble.stop()
  const down = await runCli(['renew', '--force', '--config', p.configFile, 'www.test'], 120_000)
  t.equal(down.code, 1, 'renew fails while the CA is away')
  t.match(down.stderr, /renew www\.test failed: .*(ECONNREFUSED|refused|unreachable|connect)/i, `with the reason: ${down.stderr.trim()}`)
  const status = await (await fetch(`${p.adminUrl}/certs`)).json() as Array<{ name: string, failures: number, lastError: string | null }>
  t.match(status[0], { name: 'www.test', failures: 1 }, 'the failure is counted in /certs')
  t.equal((await served(httpsPort, 'www.test')).serial, first.serial, 'the issued certificate keeps serving')

  const back = await startPebble(dir, { dnsServer: dns, httpPort, port: Number(new URL(pebble.directory).port) })
  t.teardown(back.stop)
  const from = p.logs.length
  const up = await runCli(['renew', '--force', '--config', p.configFile, 'www.test'], 120_000)
  t.equal(up.code, 0, `renewed once the CA is back: ${up.stderr}`)
  await p.waitForLog(l => l.msg === 'config reloaded' && String(l.reason) === 'certificate issued: www.test', 20_000, from)
  t.not((await served(httpsPort, 'www.test')).serial, first.serial, 'the renewed certificate is swapped in')
  const after = await (await fetch(`${p.adminUrl}/certs`)).json() as Array<{ failures: number }>
  t.equal(after[0]?.failures, 0, 'failures reset after the success')
  figure({ case: 'CA gone during a renewal', tried: 'Pebble stopped, forced renewal; Pebble back, forced renewal', count: 2, result: `first: exit 1 with "${down.stderr.trim()}", the issued certificate kept serving; second: renewed and swapped in, failures reset to 0` })
})
