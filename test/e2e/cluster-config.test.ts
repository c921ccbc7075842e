import t from 'tap'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { send } from '../helpers/http.js'
import { startEtcd } from '../helpers/etcd.js'
import { makeTempDir, runCli, startPortico, testConfig, type Portico } from '../helpers/portico.js'
import { requires } from '../helpers/required.js'
import { until } from '../helpers/wait.js'

// Routes from etcd (issue 23): `portico config push` validates and writes them, every instance
// watches the key, applies what validates, refuses what does not, and keeps the last applied
// routes in its state dir so a start while etcd is down serves them.

const PREFIX = '/portico-config-test/'
const routes = (body: string): string => `routes:\n  - { host: "*", respond: { body: ${body} } }\n`

t.test('config pushed to etcd is seen by every instance; invalid routes are refused; etcd down keeps the last routes', requires('command:etcd'), async t => {
  const etcd = await startEtcd()
  t.teardown(etcd.stop)
  const raw = new Etcd3({ hosts: etcd.endpoints })
  t.teardown(() => { raw.close() })
  const config = (name: string): string => testConfig({
    admin: true,
    routes: '  - { host: "*", respond: { body: from-file } }',
    extra: `cluster: { endpoints: [${etcd.endpoints.join(', ')}], name: ${name}, prefix: ${PREFIX}, config_key: config, lease_ttl: 2s, dial_timeout: 500ms }`
  })
  const a = await startPortico({ config: config('a') })
  t.teardown(() => a.stop('SIGKILL'))
  let b = await startPortico({ config: config('b') })
  t.teardown(() => b.stop('SIGKILL'))
  const body = async (p: Portico): Promise<string> => (await send(p.ports.http!, 'app.example.org')).body.trim()
  t.equal(await body(a), 'from-file', 'nothing in etcd yet: the file\'s routes serve')
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)

  // An invalid routes file: refused with FILE:LINE:COL, nothing written.
  const bad = join(dir, 'bad.yaml')
  await writeFile(bad, 'routes:\n  - host: "*"\n    respond: { body: x, status: 99 }\n  - { host: "*", respond: { body: y }, listeners: [nope] }\nlisteners: []\n')
  const refused = await runCli(['config', 'push', '--config', a.configFile, bad])
  t.equal(refused.code, 1, 'exit 1')
  t.match(refused.stderr, new RegExp(`^${bad}:5:1: listeners: only routes and tcp_routes come from the shared config; listeners stays in the local file`, 'm'), 'a local-only key is refused')
  await writeFile(bad, 'routes:\n  - host: "*"\n    respond: { body: x, status: 99 }\n  - { host: "*", respond: { body: y }, listeners: [nope] }\n')
  const refused2 = await runCli(['config', 'push', '--config', a.configFile, bad])
  t.equal(refused2.code, 1, 'exit 1')
  t.match(refused2.stderr, new RegExp(`^${bad}:3:\\d+: routes\\[0\\]\\.respond\\.status: `, 'm'), 'schema error located in the routes file')
  t.match(refused2.stderr, new RegExp(`^${bad}:4:\\d+: routes\\[1\\]\\.listeners\\[0\\]: no listener named "nope"`, 'm'), 'cross-check against the local listeners, located in the routes file')
  // The same routes in one file: `check` reports the same problems at the same places.
  const whole = join(dir, 'whole.yaml')
  await writeFile(whole, (await readFile(a.configFile, 'utf8')).replace(/^routes:[\s\S]*$/m, '') + 'routes:\n  - host: "*"\n    respond: { body: x, status: 99 }\n  - { host: "*", respond: { body: y }, listeners: [nope] }\n')
  const checked = await runCli(['check', '--config', whole])
  t.same(checked.stderr.split('\n').filter(l => l.includes('routes[')).map(l => l.replace(/^[^:]+:\d+:\d+: /, '')),
    refused2.stderr.split('\n').filter(l => l.includes('routes[')).map(l => l.replace(/^[^:]+:\d+:\d+: /, '')), 'the same messages as check')
  t.equal((await raw.get(`${PREFIX}config`).string()), null, 'nothing written')

  // A valid file: written, applied by both instances.
  const good = join(dir, 'routes.yaml')
  await writeFile(good, routes('shared-v1'))
  const pushed = await runCli(['config', 'push', '--config', a.configFile, good])
  t.equal(pushed.code, 0, `push exits 0 ${pushed.stderr}`)
  for (const [p, label] of [[a, 'a'], [b, 'b']] as const) {
    t.equal(await until(`v1 on ${label}`, async () => (await body(p)) === 'shared-v1' ? 'shared-v1' : undefined, 15_000), 'shared-v1', `${label} serves the pushed routes`)
  }

  // Invalid routes written past `push`: every instance refuses them and keeps serving.
  await raw.put(`${PREFIX}config`).value('routes:\n  - { host: "*", respond: { body: x }, bogus: true }\n')
  const failed = await until('b refuses', async () => {
    const r = await (await fetch(`${b.adminUrl}/readyz`)).json() as { last_reload: { ok: boolean, errors?: string[] } }
    return r.last_reload.ok ? undefined : r.last_reload
  }, 15_000)
  t.match(failed.errors, [new RegExp(`^etcd:${PREFIX}config:2:\\d+: routes\\[0\\]\\.bogus: unknown key "bogus"`)], 'the problem, located in the etcd value')
  t.equal(await body(b), 'shared-v1', 'still serving the last valid routes')

  // etcd down: an instance restarted meanwhile serves the routes it applied last (its state dir copy).
  await etcd.kill(0)
  await b.stop()
  b = await startPortico({ dir: b.dir, config: config('b') })
  t.equal(await body(b), 'shared-v1', 'restarted with etcd down: the last applied routes, not the file\'s')
  await etcd.restart(0)
  await writeFile(good, routes('shared-v2'))
  t.equal((await runCli(['config', 'push', '--config', a.configFile, good])).code, 0, 'pushed with etcd back')
  for (const [p, label] of [[a, 'a'], [b, 'b']] as const) {
    t.equal(await until(`v2 on ${label}`, async () => (await body(p)) === 'shared-v2' ? 'shared-v2' : undefined, 20_000), 'shared-v2', `etcd back: ${label} follows the next push`)
  }
})

