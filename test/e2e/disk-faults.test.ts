import t from 'tap'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { freePort, makeTempDir, OK_ROUTES, runCli, startPortico, testConfig } from '../helpers/portico.js'
import { send } from '../helpers/http.js'
import { requires } from '../helpers/required.js'
import { http01Ca, http01Config } from '../helpers/pebble.js'
import { until } from '../helpers/wait.js'
import { figure } from '../helpers/figures.js'
import { tmpfs } from '../helpers/tmpfs.js'

const config = (stateDir: string, port: number, body: string): string =>
  testConfig({ stateDir, listeners: [{ name: 'http', port }], routes: `  - { name: home, respond: { status: 200, body: "${body}" } }` })

t.test('state dir full, then read-only: reloads and restarts keep serving, the loss is logged', requires('root', 'command:mount'), async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const state = join(dir, 'state')
  const disk = await tmpfs(t, state, '256k')
  const port = await freePort()
  const p = await startPortico({ dir, config: config(state, port, 'one') })
  t.teardown(() => p.stop('SIGKILL'))
  t.equal((await send(port, 'a.test')).body, 'one')

  await disk.fill()
  const swap = async (body: string): Promise<void> => {
    const next = join(dir, 'next.yaml')
    await writeFile(next, config(state, port, body))
    await rename(next, p.configFile)
  }
  let from = p.logs.length
  await swap('two')
  await p.waitForLog(l => l.msg === 'config reloaded', 10_000, from)
  t.equal((await send(port, 'a.test')).body, 'two', 'state dir full: the reload is applied')
  const enospc = p.logs.slice(from).find(l => l.msg === 'could not persist last-good config')
  t.match(String(enospc?.err), /ENOSPC/, 'and the lost last-good copy is logged (ENOSPC)')

  await disk.readOnly(true)
  from = p.logs.length
  await swap('three')
  await p.waitForLog(l => l.msg === 'config reloaded', 10_000, from)
  t.equal((await send(port, 'a.test')).body, 'three', 'state dir read-only: the reload is applied')
  t.match(String(p.logs.slice(from).find(l => l.msg === 'could not persist last-good config')?.err), /EROFS/, 'logged (EROFS)')

  t.same(await p.stop('SIGTERM'), { code: 0, signal: null })
  const again = await startPortico({ dir, config: config(state, port, 'four') })
  t.teardown(() => again.stop('SIGKILL'))
  t.equal((await send(port, 'a.test')).body, 'four', 'a restart on the read-only state dir serves too')
  figure({ case: 'state dir full / read-only', tried: 'tmpfs filled to ENOSPC, then remounted read-only; reloads and a restart', count: 3, result: 'every reload applied and served, restart served; the lost last-good copy logged with ENOSPC/EROFS' })
})

t.test('certificate store read-only during issuance: the order fails, is retried with backoff, recovers', requires('root', 'command:mount', 'command:pebble', 'command:pebble-challtestsrv'), async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const store = join(dir, 'certs')
  const disk = await tmpfs(t, store, '1m')
  await disk.readOnly(true)
  const ca = await http01Ca(t, dir)
  const p = await startPortico({ dir, config: http01Config(ca, { routes: OK_ROUTES, acmeExtra: `  store_dir: ${store}` }) })
  const { httpsPort } = ca
  t.teardown(() => p.stop('SIGKILL'))
  const failed = await p.waitForLog(l => l.msg === 'acme: order failed; will retry', 60_000)
  t.match(String(failed.err), /EROFS|read-only/i, 'the order fails on the read-only store, with the reason')
  const status = await until('failure recorded', async () => {
    const s = await (await fetch(`${p.adminUrl}/certs`)).json() as Array<{ name: string, failures: number, lastError: string | null }>
    return s[0] !== undefined && s[0].failures >= 1 ? s[0] : undefined
  })
  t.match(status.lastError, /EROFS|read-only/i, '/certs shows the error')
  t.equal((await send(httpsPort, 'www.test', { tls: true })).status, 200, 'the placeholder certificate keeps serving meanwhile')

  await disk.readOnly(false)
  const r = await runCli(['renew', '--force', '--config', p.configFile, 'www.test'], 120_000)
  t.equal(r.code, 0, `renew after the store became writable: ${r.stderr}`)
  await p.waitForLog(l => l.msg === 'config reloaded' && String(l.reason) === 'certificate issued: www.test', 20_000)
  t.equal(p.child.exitCode, null, 'portico never stopped')
  figure({ case: 'certificate store read-only', tried: 'ACME HTTP-01 issuance (Pebble) into a read-only tmpfs store, then the store made writable and a forced renew', count: 1, result: `order failed with EROFS (failures ${status.failures}, shown in /certs), placeholder kept serving, forced renew succeeded once writable` })
})
