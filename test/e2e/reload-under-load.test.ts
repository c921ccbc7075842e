import t from 'tap'
import http from 'node:http'
import { once } from 'node:events'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import { appAndEcho } from '../helpers/upstreams.js'
import { httpConfig, startPortico } from '../helpers/portico.js'
import { figure, scaled } from '../helpers/figures.js'

const RELOADS = scaled(100)
const WEBSOCKETS = 20
const CLIENTS = 6

/**
 * 100 reloads (valid and invalid configs alternating; file replaced by rename, or SIGHUP) while
 * HTTP clients hammer a proxy route and websockets ping through the proxy: no request may fail,
 * no websocket may drop, and the last valid config must be the one served.
 */
t.test(`${RELOADS} reloads under load with open websockets`, async t => {
  const { appPort, wsPort } = await appAndEcho(t, (req, res) => { req.resume(); req.on('end', () => res.end('app')) })
  const config = (generation: number): string => httpConfig(`  - name: ws
    path: /ws
    proxy: { upstreams: ["http://127.0.0.1:${wsPort}"] }
  - name: app
    proxy: { upstreams: ["http://127.0.0.1:${appPort}"] }
    response_headers: { set: { x-generation: "${generation}" } }`)
  const p = await startPortico({ config: config(0) })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.http!

  // Websockets, each pinging every 50 ms and counting echoes.
  const sockets = await Promise.all(Array.from({ length: WEBSOCKETS }, async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host: 'a.test' } })
    await once(ws, 'open')
    const s = { ws, echoes: 0, closed: false, timer: setInterval(() => ws.send('ping'), 50) }
    ws.on('message', () => { s.echoes++ })
    ws.on('close', () => { s.closed = true })
    return s
  }))
  t.teardown(() => { for (const s of sockets) { clearInterval(s.timer); s.ws.terminate() } })

  // HTTP clients on keep-alive connections, each in a loop until told to stop.
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS })
  t.teardown(() => agent.destroy())
  let running = true
  const tally = { ok: 0, failed: [] as string[], generations: new Set<string>() }
  const client = async (): Promise<void> => {
    while (running) {
      await new Promise<void>(resolve => {
        const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host: 'a.test' }, agent }, res => {
          res.resume()
          res.on('end', () => {
            if (res.statusCode === 200) { tally.ok++; tally.generations.add(String(res.headers['x-generation'])) } else tally.failed.push(`status ${res.statusCode ?? '?'}`)
            resolve()
          })
        })
        req.on('error', err => { tally.failed.push(err.message); resolve() })
        req.setTimeout(5000, () => req.destroy(new Error('timeout')))
      })
    }
  }
  const clients = Array.from({ length: CLIENTS }, async () => await client())

  let lastValid = 0
  let outcomes = 0
  const started = Date.now()
  for (let i = 1; i <= RELOADS; i++) {
    const valid = i % 2 === 1
    const from = p.logs.length
    const next = join(p.dir, 'next.yaml')
    await writeFile(next, valid ? config(i) : config(i).replace('routes:', 'routes: [oops'))
    await rename(next, p.configFile)
    if (valid) lastValid = i
    // Every fourth step also sends SIGHUP (a reload of what is on disk, whichever it is).
    if (i % 4 === 0) p.child.kill('SIGHUP')
    const want = valid ? 'config reloaded' : 'config reload failed; still serving the previous config'
    await p.waitForLog(l => l.msg === want, 10_000, from)
    outcomes++
  }
  const reloadMs = Date.now() - started
  // Let the last reload settle, then make sure the final config is what is served.
  await new Promise(resolve => setTimeout(resolve, 300))
  running = false
  await Promise.all(clients)
  const final = await new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', headers: { host: 'a.test' }, agent: false }, res => { res.resume(); resolve(String(res.headers['x-generation'])) }).on('error', reject)
  })
  const echoesBefore = sockets.map(s => s.echoes)
  await new Promise(resolve => setTimeout(resolve, 300))

  t.comment(`${RELOADS} reloads in ${reloadMs} ms; ${tally.ok} requests served during them; ${tally.generations.size} generations seen`)
  t.equal(outcomes, RELOADS, 'every reload was applied or refused, as its file deserved')
  t.same(tally.failed, [], 'no request failed')
  t.ok(tally.ok > RELOADS, `load ran throughout (${tally.ok} requests)`)
  t.ok(tally.generations.size > 10, 'requests saw many of the reloaded configs')
  t.equal(final, String(lastValid), `the last valid config (${lastValid}) is served`)
  t.equal(sockets.filter(s => s.closed).length, 0, 'no websocket dropped')
  t.ok(sockets.every((s, i) => s.echoes > echoesBefore[i]!), 'every websocket still echoes after the reloads')
  const failedReloads = p.logs.filter(l => l.msg === 'config reload failed; still serving the previous config').length
  t.ok(failedReloads >= RELOADS / 2, `${failedReloads} refused reloads logged`)
  figure({ case: 'reloads under load', tried: `valid and invalid configs alternating (file replaced by rename; SIGHUP every 4th), ${CLIENTS} keep-alive HTTP clients and ${WEBSOCKETS} pinging websockets throughout`, count: RELOADS, result: `${tally.failed.length} failed of ${tally.ok + tally.failed.length} requests; ${sockets.filter(s => s.closed).length} websockets dropped; final config ${final} (want ${lastValid}); ${reloadMs} ms` })
})
