import t from 'tap'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startPortico, makeTempDir, runCli, testConfig, type Portico } from '../helpers/portico.js'
import { httpUpstream } from '../helpers/upstreams.js'
import { send } from '../helpers/http.js'

const config = (body: string, extra = ''): string => testConfig({
  admin: true,
  access: true,
  extra: `shutdown_timeout: 5s\n${extra}`,
  routes: `  - host: "*"\n    respond: { status: 200, body: "${body}" }`
})

async function get (port: number, path = '/', host = 'a.test'): Promise<{ status: number, body: string }> {
  const r = await send(port, host, { path })
  return { status: r.status, body: r.body }
}

async function waitForBody (p: Portico, want: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if ((await get(p.ports.http!)).body === want) return
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`body never became ${want}`)
}

t.test('start, health, readiness, config, graceful SIGTERM', async t => {
  const p = await startPortico({ config: config('one') })
  t.teardown(() => p.stop('SIGKILL'))
  t.same(await get(p.ports.http!), { status: 200, body: 'one' })
  const health = await fetch(`${p.adminUrl}/healthz`)
  t.equal(health.status, 200)
  const ready = await (await fetch(`${p.adminUrl}/readyz`)).json() as { status: string, generation: number }
  t.equal(ready.status, 'ready')
  const cfg = await (await fetch(`${p.adminUrl}/config`)).json() as { routes: Array<{ respond: { body: string } }> }
  t.equal(cfg.routes[0]?.respond.body, 'one')
  const exit = await p.stop('SIGTERM')
  t.same(exit, { code: 0, signal: null }, 'exits 0 on SIGTERM')
})

t.test('hot reload: rename-over, SIGHUP, admin POST, invalid file keeps serving', async t => {
  const p = await startPortico({ config: config('one') })
  t.teardown(() => p.stop('SIGKILL'))
  // rename-over, as editors and config management do
  const tmp = join(p.dir, 'new.yaml')
  await writeFile(tmp, config('two').replaceAll('${STATE}', join(p.dir, 'state')))
  await rename(tmp, p.configFile)
  await waitForBody(p, 'two')
  t.pass('file replaced by rename is picked up')

  // invalid file: logged with its position, old snapshot keeps serving
  const from = p.logs.length
  await writeFile(p.configFile, config('three').replaceAll('${STATE}', join(p.dir, 'state')).replace('shutdown_timeout: 5s', 'shutdown_timeout: 5s\nbogus_key: 1'))
  const failed = await p.waitForLog(l => l.msg === 'config reload failed; still serving the previous config', 8000, from)
  t.match((failed.errors as string[])[0], /portico\.yaml:\d+:1: bogus_key: unknown key/)
  t.same(await get(p.ports.http!), { status: 200, body: 'two' }, 'old config still serves')
  const ready = await (await fetch(`${p.adminUrl}/readyz`)).json() as { last_reload: { ok: boolean } }
  t.equal(ready.last_reload.ok, false, 'readyz shows the failed reload')

  // SIGHUP
  await writeFile(p.configFile, config('four').replaceAll('${STATE}', join(p.dir, 'state')))
  p.child.kill('SIGHUP')
  await waitForBody(p, 'four')
  t.pass('SIGHUP reload')

  // admin API reload reports errors
  await writeFile(p.configFile, 'listeners: [\n')
  const res = await fetch(`${p.adminUrl}/reload`, { method: 'POST', headers: { 'x-portico-admin': '1' } })
  t.equal(res.status, 422)
  const body = await res.json() as { ok: boolean, errors: string[] }
  t.equal(body.ok, false)
  t.match(body.errors[0], /portico\.yaml:\d+:\d+:/)
  t.same(await get(p.ports.http!), { status: 200, body: 'four' })
})

t.test('SIGTERM drains an in-flight slow request', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  // A slow upstream: answers after 700 ms.
  const upstream = await httpUpstream(t, (_req, res) => { setTimeout(() => res.end('slow-ok'), 700) })
  const p = await startPortico({
    dir,
    config: testConfig({ access: true, extra: 'shutdown_timeout: 5s', routes: `  - { host: "*", proxy: { upstreams: ["${upstream.origin}"] } }` })
  })
  t.teardown(() => p.stop('SIGKILL'))
  const pending = get(p.ports.http!)
  await new Promise(resolve => setTimeout(resolve, 200))
  p.child.kill('SIGTERM')
  const res = await pending
  t.same(res, { status: 200, body: 'slow-ok' }, 'in-flight request completed')
  t.same(await p.exited, { code: 0, signal: null })
})

t.test('an invalid or missing config refuses the start; --last-good serves the saved copy, loudly', async t => {
  const p = await startPortico({ config: config('good') })
  await p.stop()
  const broken = config('x').replace('log:', 'logg:')
  const refused = await startPortico({ dir: p.dir, config: broken, expectReady: false })
  t.equal((await refused.exited).code, 1, 'an invalid file: exit 1 (as nginx and Caddy)')
  t.match(refused.stderr.join('\n'), /invalid config, not starting:\n.*portico\.yaml:\d+:\d+: logg: unknown key/, 'the errors on stderr')
  const strict = await startPortico({ dir: p.dir, config: broken, args: ['--strict'], expectReady: false })
  t.equal((await strict.exited).code, 1, '--strict (now the default) still accepted')
  const missing = await runCli(['run', '--config', join(p.dir, 'missing.yaml'), '--state-dir', join(p.dir, 'state')])
  t.equal(missing.code, 1, 'a missing file: exit 1 even with a last-good copy in the state dir')
  t.match(missing.stderr, /missing\.yaml:1:1: cannot read config/)

  const fallback = await startPortico({ dir: p.dir, config: broken, args: ['--last-good'] })
  t.teardown(() => fallback.stop('SIGKILL'))
  t.same(await get(fallback.ports.http!), { status: 200, body: 'good' }, 'opt-in: serves the last good config')
  t.match(fallback.stderr.join('\n'), /ERROR: config file is invalid \(.*logg: unknown key.*\): serving the last-known-good copy/, 'an error line on stderr')
  t.ok(fallback.logs.some(l => l.msg?.startsWith('CONFIG FILE IS INVALID') === true && l.level === 50), 'logged at error level')
  const ready = await fetch(`${fallback.adminUrl}/readyz`)
  const body = await ready.json() as { status: string, degraded: string[] }
  t.equal(ready.status, 200, 'still serving, so still ready')
  t.equal(body.status, 'degraded')
  t.match(body.degraded[0], /config file is invalid/)
  t.match(await (await fetch(`${fallback.adminUrl}/metrics`)).text(), /portico_config_stale 1/)
  t.match(await (await fetch(`${fallback.adminUrl}/`)).text(), /id="stale"[^>]*>Serving the last-known-good config, not the file: config file is invalid/)
  // Fixing the file clears it.
  await writeFile(fallback.configFile, config('fixed').replaceAll('${STATE}', join(p.dir, 'state')))
  await waitForBody(fallback, 'fixed')
  t.equal((await (await fetch(`${fallback.adminUrl}/readyz`)).json() as { status: string }).status, 'ready')
  t.match(await (await fetch(`${fallback.adminUrl}/metrics`)).text(), /portico_config_stale 0/)
})

t.test('a reload that fails late leaves every part on the old config (Docker producer, DNS, admin)', async t => {
  const p = await startPortico({ config: config('one') })
  t.teardown(() => p.stop('SIGKILL'))
  const before = await (await fetch(`${p.adminUrl}/readyz`)).json() as { docker: unknown, generation: number }
  t.equal(before.docker, null, 'no Docker producer yet')
  // Valid YAML and schema; the snapshot build fails on the missing certificate file, after the
  // Docker and DNS sections were looked at.
  const dns = `dns: { address: "127.0.0.1:0" }\ndocker: { zone: d.test, endpoint: "unix://${join(p.dir, 'no-docker.sock')}" }\ntls: { certificates: [{ cert_file: missing.pem, key_file: missing.key }] }`
  await writeFile(p.configFile, config('two', dns).replaceAll('${STATE}', join(p.dir, 'state')))
  const res = await fetch(`${p.adminUrl}/reload`, { method: 'POST', headers: { 'x-portico-admin': '1' } })
  t.equal(res.status, 422)
  t.match(((await res.json()) as { errors: string[] }).errors.join(), /missing\.pem/)
  const after = await (await fetch(`${p.adminUrl}/readyz`)).json() as { docker: unknown, generation: number }
  t.equal(after.docker, null, 'the Docker producer and DNS server stayed on the old (absent) config')
  t.equal(after.generation, before.generation)
  t.notMatch(await (await fetch(`${p.adminUrl}/metrics`)).text(), /portico_docker_/)
  t.same(await get(p.ports.http!), { status: 200, body: 'one' })
  t.notOk(p.logs.some(l => l.msg === 'dns listening'), 'no DNS server was left running')
})

t.test('status page with only dns (no docker): the DNS server, not "disconnected"', async t => {
  const p = await startPortico({ config: config('one', 'dns: { address: "127.0.0.1:0" }') })
  t.teardown(() => p.stop('SIGKILL'))
  const html = await (await fetch(`${p.adminUrl}/`)).text()
  const docker = /<p id="docker">(.*?)<\/p>/.exec(html)?.[1] ?? ''
  t.match(docker, /Docker not configured<\/span> · DNS server on port \d+/)
  t.notMatch(docker, /disconnected/)
  t.notMatch(await (await fetch(`${p.adminUrl}/metrics`)).text(), /portico_docker_connected/)
})
