import t from 'tap'
import http from 'node:http'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startPortico, makeTempDir, runCli, type Portico } from '../helpers/portico.js'
import { send } from '../helpers/http.js'

const config = (body: string, extra = ''): string => `
state_dir: \${STATE}
log: { level: info }
admin: { address: "127.0.0.1:0" }
shutdown_timeout: 5s
listeners:
  - { name: http, address: "127.0.0.1:0" }
${extra}
routes:
  - host: "*"
    respond: { status: 200, body: "${body}" }
`

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
  const res = await fetch(`${p.adminUrl}/reload`, { method: 'POST' })
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
  const upstream = http.createServer((_req, res) => { setTimeout(() => res.end('slow-ok'), 700) })
  await new Promise<void>(resolve => upstream.listen(0, '127.0.0.2', resolve))
  t.teardown(() => upstream.close())
  const port = (upstream.address() as { port: number }).port
  const p = await startPortico({
    dir,
    config: `
state_dir: \${STATE}
admin: null
shutdown_timeout: 5s
listeners: [{ name: http, address: "127.0.0.1:0" }]
routes: [{ host: "*", proxy: { upstreams: ["http://127.0.0.2:${port}"] } }]
`
  })
  t.teardown(() => p.stop('SIGKILL'))
  const pending = get(p.ports.http!)
  await new Promise(resolve => setTimeout(resolve, 200))
  p.child.kill('SIGTERM')
  const res = await pending
  t.same(res, { status: 200, body: 'slow-ok' }, 'in-flight request completed')
  t.same(await p.exited, { code: 0, signal: null })
})

t.test('last-known-good start and --strict', async t => {
  const p = await startPortico({ config: config('good') })
  await p.stop()
  await writeFile(p.configFile, config('x').replace('routes:', 'routes:\n  - nonsense: 1\n'))
  const check = await runCli(['check', '--config', p.configFile])
  t.equal(check.code, 1)
  const strict = await startPortico({ dir: p.dir, config: config('x').replace('log:', 'logg:'), args: ['--strict'], expectReady: false })
  t.equal((await strict.exited).code, 1, '--strict refuses an invalid file')
  t.match(strict.stderr.join('\n'), /logg/)
  const fallback = await startPortico({ dir: p.dir, config: config('x').replace('log:', 'logg:') })
  t.teardown(() => fallback.stop('SIGKILL'))
  t.ok(fallback.logs.some(l => typeof l.msg === 'string' && l.msg.startsWith('CONFIG FILE IS INVALID')), 'loud warning')
  t.same(await get(fallback.ports.http!), { status: 200, body: 'good' }, 'serves the last good config')
})
