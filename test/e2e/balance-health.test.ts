import t from 'tap'
import { writeFile } from 'node:fs/promises'
import https from 'node:https'
import { once } from 'node:events'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { makePki } from '../helpers/pki.js'
import { freePort, httpConfig, makeTempDir, startPortico } from '../helpers/portico.js'
import { send } from '../helpers/http.js'
import { until } from '../helpers/wait.js'
import { poolMember, tally } from '../helpers/pool-members.js'

/**
 * Active health checks of proxy pools (issue 22): a member failing its check leaves the pool
 * within interval × unhealthy_after and comes back after healthy_after passes; state survives a
 * reload of an unchanged pool; checks of a removed pool stop; status page and metrics show it.
 */
const INTERVAL = 250
const UNHEALTHY_AFTER = 2

t.test('a member failing its health check is taken out, comes back, and keeps its state across a reload', async t => {
  const a = await poolMember(t, 'A', '127.0.0.2')
  const b = await poolMember(t, 'B', '127.0.0.3')
  const gone = await poolMember(t, 'G', '127.0.0.4')
  const check = `health_check: { path: /health, interval: ${INTERVAL}ms, timeout: 250ms, unhealthy_after: ${UNHEALTHY_AFTER}, healthy_after: 2, host: probe.test }`
  const config = (extra: string): string => httpConfig(`
  - name: pool
    host: pool.test
    proxy: { upstreams: ["${a.origin}", "${b.origin}"], ${check} }
${extra}`).replace('admin: null', 'admin: { address: "127.0.0.1:0" }')
  const removable = `
  - name: removable
    host: removable.test
    proxy: { upstreams: ["${gone.origin}"], ${check} }`
  const p = await startPortico({ config: config(removable) })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.http!
  const who = async (): Promise<string> => (await send(port, 'pool.test')).body

  t.same(await tally(10, who), { A: 5, B: 5 }, 'both members serve while healthy')
  await until('first probes', async () => b.hits.health > 0 && gone.hits.health > 0 ? true : undefined)
  t.same([...b.probeHosts], ['probe.test'], 'probes carry the configured Host, sent to the member itself')

  // B still answers requests (a passive mark never happens): only its check fails.
  b.health = 503
  const flipped = performance.now()
  await until('B out of the pool', async () => (await tally(6, who)).B === undefined ? true : undefined, 10_000, 10)
  const took = performance.now() - flipped
  // Two failed probes in a row, each at most an interval apart, plus one probe in flight and slack for a loaded machine.
  t.ok(took < INTERVAL * UNHEALTHY_AFTER + INTERVAL + 3000, `taken out after ${Math.round(took)} ms (interval × unhealthy_after = ${INTERVAL * UNHEALTHY_AFTER} ms)`)
  t.same(await tally(10, who), { A: 10 }, 'a checked-down member gets no requests')

  const metrics = await (await fetch(`${p.adminUrl}/metrics`)).text()
  t.match(metrics, new RegExp(`portico_upstream_healthy\\{route="pool",upstream="${b.origin}"\\} 0`), 'gauge: B unhealthy')
  t.match(metrics, new RegExp(`portico_upstream_healthy\\{route="pool",upstream="${a.origin}"\\} 1`), 'gauge: A healthy')
  t.match(metrics, new RegExp(`portico_upstream_checks_total\\{route="pool",upstream="${b.origin}",result="failed"\\} [1-9]`), 'failed checks counted')
  const page = await (await fetch(`${p.adminUrl}/`)).text()
  const row = page.match(new RegExp(`<tr><td>pool</td><td>${b.origin}</td>.*?</tr>`))?.[0] ?? ''
  t.match(row, /class="bad">down</, 'status page: B down')
  t.match(row, /failed \(status 503\) at \d{4}-/, 'status page: the last check result and its time')
  t.match(row, /\d+ failed/, 'status page: consecutive failures')

  // A reload that removes another pool keeps this one's state and stops the removed pool's checks.
  const streakBefore = Number(/(\d+) failed<\/td><\/tr>/.exec(row)?.[1])
  await writeFile(p.configFile, config(''))
  const reload = await (await fetch(`${p.adminUrl}/reload`, { method: 'POST', headers: { 'x-portico-admin': '1' } })).json() as { ok: boolean }
  t.equal(reload.ok, true)
  t.same(await tally(10, who), { A: 10 }, 'right after the reload B is still out (state carried over, not reset to healthy)')
  const after = await (await fetch(`${p.adminUrl}/`)).text()
  const streakAfter = Number(new RegExp(`<tr><td>pool</td><td>${b.origin}</td>.*?(\\d+) failed</td></tr>`).exec(after)?.[1])
  t.ok(streakAfter >= streakBefore, `the failure streak continued (${streakBefore} → ${streakAfter})`)
  t.notMatch(after, /<td>removable<\/td>/, 'the removed pool is gone from the status page')
  const probesAtReload = gone.hits.health
  await new Promise(resolve => setTimeout(resolve, INTERVAL * 3))
  t.ok(gone.hits.health <= probesAtReload + 1, `checks of the removed pool stopped (${probesAtReload} → ${gone.hits.health})`)

  b.health = 200
  await until('B back in the pool', async () => (await tally(6, who)).B !== undefined ? true : undefined, 10_000, 10)
  t.same(await tally(10, who), { A: 5, B: 5 }, 'B shares the load again')

  // Every member failing its check: requests are still tried (a broken health path must not take the site down).
  a.health = 500
  b.health = 500
  await until('both checked down', async () => {
    const m = await (await fetch(`${p.adminUrl}/metrics`)).text()
    return (m.match(/portico_upstream_healthy\{route="pool",[^}]*\} 0/g) ?? []).length === 2 ? true : undefined
  }, 10_000, 50)
  const both = await tally(10, who)
  t.same(both, { A: 5, B: 5 }, 'all members down: tried anyway, in policy order')
  t.equal(a.hits.other + b.hits.other >= 50, true)
})

t.test('with workers every worker checks; the status page shows each view and the gauge aggregates to the minimum', async t => {
  const a = await poolMember(t, 'A', '127.0.0.6')
  const b = await poolMember(t, 'B', '127.0.0.7')
  b.health = 503
  const listen = await freePort()
  const p = await startPortico({
    config: httpConfig(`
  - name: pool
    host: pool.test
    proxy: { upstreams: ["${a.origin}", "${b.origin}"], health_check: { path: /health, interval: 1s, timeout: 1s, unhealthy_after: 1 } }
`, 'workers: 2').replace('admin: null', 'admin: { address: "127.0.0.1:0" }').replace('name: http, address: "127.0.0.1:0"', `name: http, address: "127.0.0.1:${listen}"`)
  })
  t.teardown(() => p.stop('SIGKILL'))
  const page = await until('both workers report B down', async () => {
    const html = await (await fetch(`${p.adminUrl}/`)).text()
    return (html.match(new RegExp(`<tr><td>pool \\(pid \\d+\\)</td><td>${b.origin}</td><td class="bad">down</td>`, 'g')) ?? []).length === 2 ? html : undefined
  }, 10_000, 50)
  t.equal((page.match(new RegExp(`<tr><td>pool \\(pid \\d+\\)</td><td>${a.origin}</td><td class="ok">up</td>`, 'g')) ?? []).length, 2, 'A up in both workers')
  const metrics = await (await fetch(`${p.adminUrl}/metrics`)).text()
  t.match(metrics, new RegExp(`portico_upstream_healthy\\{route="pool",upstream="${b.origin}"\\} 0`))
  t.match(metrics, new RegExp(`portico_upstream_healthy\\{route="pool",upstream="${a.origin}"\\} 1\\n`), 'min over workers, not their sum')
  t.same(await tally(10, async () => (await send(p.ports.http!, 'pool.test')).body), { A: 10 }, 'no worker sends requests to B')
})

t.test('https members are probed with the route\'s TLS settings (CA file, server name)', async t => {
  const pki = makePki(['members.test'])
  let health = 200
  const server = https.createServer({ cert: pki.cert, key: pki.key }, (req, res) => { res.writeHead(req.url === '/health' ? health : 200).end('S') })
  server.listen(0, '127.0.0.8')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const origin = `https://127.0.0.8:${(server.address() as AddressInfo).port}`
  const tmp = await makeTempDir()
  t.teardown(tmp.cleanup)
  await writeFile(join(tmp.dir, 'ca.pem'), pki.caCert)
  const p = await startPortico({
    dir: tmp.dir,
    config: httpConfig(`
  - name: tls-pool
    host: tls.test
    proxy:
      upstreams: ["${origin}"]
      tls: { ca_file: ${join(tmp.dir, 'ca.pem')}, server_name: members.test }
      health_check: { path: /health, interval: 250ms, timeout: 250ms, unhealthy_after: 1, healthy_after: 1 }
`).replace('admin: null', 'admin: { address: "127.0.0.1:0" }')
  })
  t.teardown(() => p.stop('SIGKILL'))
  const row = async (): Promise<string> => (await (await fetch(`${p.adminUrl}/`)).text()).match(new RegExp(`<tr><td>tls-pool</td><td>${origin}</td>.*?</tr>`))?.[0] ?? ''
  t.match(await until('a passed TLS probe', async () => { const r = await row(); return /ok \(status 200\)/.test(r) ? r : undefined }), /class="ok">up</)
  health = 503
  t.match(await until('a failed TLS probe', async () => { const r = await row(); return /class="bad">down</.test(r) ? r : undefined }), /failed \(status 503\)/,
    'the status came over verified TLS (a handshake failure would read as a TLS error)')
})
