import t, { type Test } from 'tap'
import http from 'node:http'
import net from 'node:net'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startPortico, freePort, testConfig, type Portico } from '../helpers/portico.js'
import { httpUpstream } from '../helpers/upstreams.js'
import { send } from '../helpers/http.js'
import { until } from '../helpers/wait.js'
import { figure } from '../helpers/figures.js'

interface Ready {
  generation: number
  workers: { configured: number, respawns: number, running: Array<{ pid: number, generation: number, inflight: number, requests: number }> }
}

const config = (port: number, admin: number, upstream: number, body: string, extraPort?: number): string => testConfig({
  admin,
  extra: 'workers: 2\nshutdown_timeout: 5s',
  listeners: [{ name: 'http', port }, ...extraPort === undefined ? [] : [{ name: 'extra', port: extraPort }]],
  routes: `
  - name: slow
    path: /slow
    proxy: { upstreams: ["http://127.0.0.2:${upstream}"] }
  - name: home
    respond: { status: 200, body: "${body}" }`
})

const ready = async (p: Portico): Promise<Ready> => await (await fetch(`${p.adminUrl}/readyz`)).json() as Ready

/** `count` requests, each on a new connection (so SO_REUSEPORT spreads them), `width` at a time. */
async function bodies (port: number, count: number, width = 10): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < count; i += width) {
    const batch = await Promise.all(Array.from({ length: Math.min(width, count - i) }, async () => (await send(port, 'a.test')).body))
    out.push(...batch)
  }
  return out
}

/** An upstream that holds /slow requests until released. */
async function holdingUpstream (t: Test): Promise<{ port: number, held: () => number, release: () => void }> {
  const waiting: http.ServerResponse[] = []
  const { port } = await httpUpstream(t, (_req, res) => { waiting.push(res) })
  return { port, held: () => waiting.length, release: () => { for (const res of waiting.splice(0)) res.end('slow done') } }
}

const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true } catch { return false } }

async function setup (t: Test, body: string): Promise<{ p: Portico, port: number, admin: number, up: Awaited<ReturnType<typeof holdingUpstream>> }> {
  const up = await holdingUpstream(t)
  const port = await freePort()
  const admin = await freePort()
  const p = await startPortico({ config: config(port, admin, up.port, body) })
  t.teardown(() => p.stop('SIGKILL'))
  return { p, port, admin, up }
}

t.test('workers: 2 — both serve; a killed worker is respawned, requests on the other one finish', async t => {
  const { p, port, up } = await setup(t, 'v1')
  const first = await ready(p)
  t.equal(first.workers.configured, 2)
  t.equal(first.workers.running.length, 2, 'two worker processes')
  t.ok(first.workers.running.every(w => w.generation === first.generation), 'both serve the current generation')

  t.ok((await bodies(port, 200)).every(b => b === 'v1'), '200 requests on new connections answered')
  const spread = await ready(p)
  t.ok(spread.workers.running.every(w => w.requests > 0), `the kernel spread connections over both workers: ${spread.workers.running.map(w => w.requests).join('/')}`)

  // 20 requests held by the upstream, spread over both workers; then one worker dies.
  const slow = Array.from({ length: 20 }, async () => await send(port, 'a.test', { path: '/slow', timeoutMs: 20_000 }).then(r => r.status, () => 'failed' as const))
  await until('20 requests held upstream', async () => up.held() === 20 ? true : undefined)
  const during = await ready(p)
  const [victim, survivor] = during.workers.running
  t.equal(victim!.inflight + survivor!.inflight, 20, 'in flight on the workers')
  process.kill(victim!.pid, 'SIGKILL')
  await until('victim gone', async () => alive(victim!.pid) ? undefined : true)
  up.release()
  const results = await Promise.all(slow)
  t.equal(results.filter(r => r === 200).length, survivor!.inflight, 'every request on the surviving worker completed')
  t.equal(results.filter(r => r === 'failed').length, victim!.inflight, 'only the killed worker\'s requests failed')

  t.ok((await bodies(port, 50, 1)).every(b => b === 'v1'), 'no failures right after the crash')
  const after = await until('respawned', async () => {
    const r = await ready(p)
    return r.workers.respawns === 1 && r.workers.running.length === 2 && r.workers.running.every(w => w.generation === r.generation) ? r : undefined
  }, 15_000)
  t.notOk(after.workers.running.some(w => w.pid === victim!.pid), 'a new process replaced the killed one')
  t.ok(p.logs.some(l => l.msg === 'worker exited unexpectedly; respawning' && l.signal === 'SIGKILL'), 'the crash is logged')
  t.ok((await bodies(port, 100)).every(b => b === 'v1'), 'all answered after the respawn')
  figure({ case: 'worker killed under load', tried: 'SIGKILL one of 2 workers with 20 requests in flight', count: 20, result: `${results.filter(r => r === 200).length} on the survivor completed, ${results.filter(r => r === 'failed').length} on the killed worker failed; 50 sequential requests right after: all served; respawned and on the current generation` })
  const pids = after.workers.running.map(w => w.pid)
  t.same(await p.stop('SIGTERM'), { code: 0, signal: null }, 'SIGTERM: clean exit')
  t.ok(pids.every(pid => !alive(pid)), 'no worker left behind')
})

t.test('workers: 2 — a reload is applied by all workers or none', async t => {
  const { p, port, admin, up } = await setup(t, 'v1')
  const before = await ready(p)

  // A listener on a port another process holds: the workers cannot bind it, so nobody switches.
  const squatter = net.createServer()
  await new Promise<void>(resolve => squatter.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { squatter.close() })
  const taken = (squatter.address() as net.AddressInfo).port
  await writeFile(p.configFile, config(port, admin, up.port, 'v2', taken))
  const refused = await fetch(`${p.adminUrl}/reload`, { method: 'POST', headers: { 'x-portico-admin': '1' } })
  t.equal(refused.status, 422)
  t.match(JSON.stringify(await refused.json()), /EADDRINUSE/, 'the bind error is reported')
  t.ok((await bodies(port, 100)).every(b => b === 'v1'), 'every worker still serves the old config')
  const unchanged = await ready(p)
  t.equal(unchanged.generation, before.generation)
  t.ok(unchanged.workers.running.every(w => w.generation === before.generation), 'no worker switched')

  // The same change without the impossible listener, by file replace + SIGHUP to the primary.
  const next = join(p.dir, 'next.yaml')
  await writeFile(next, config(port, admin, up.port, 'v2'))
  await rename(next, p.configFile)
  const from = p.logs.length
  p.child.kill('SIGHUP')
  await p.waitForLog(l => l.msg === 'config reloaded', 10_000, from)
  t.ok((await bodies(port, 100)).every(b => b === 'v2'), 'every worker serves the new config once the reload is reported')
  const now = await ready(p)
  t.ok(now.generation > before.generation)
  t.ok(now.workers.running.every(w => w.generation === now.generation), 'all workers on the new generation')

  const metrics = await (await fetch(`${p.adminUrl}/metrics`)).text()
  const served = Number(/portico_requests_total\{route="home",code="200",class="2xx"\} (\d+)/.exec(metrics)?.[1])
  t.equal(served, 200, '/metrics sums the workers\' counters')
})
