import t from 'tap'
import http from 'node:http'
import { once } from 'node:events'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import { freePort, httpConfig, startPortico } from '../helpers/portico.js'
import { send } from '../helpers/http.js'
import { echoUpstream, httpUpstream, wsUpstream } from '../helpers/upstreams.js'

// UAP host rules and the forwarding headers (trusted proxies) are router decisions:
// test/unit/router-inject-forwarding.test.ts. Here what needs the real binary.

t.test('502, 504, 413, pools with passive health and retry', async t => {
  const a = await echoUpstream(t, '127.0.0.4')
  const hang = await httpUpstream(t, () => { /* never answers */ }, '127.0.0.5')
  const closedPort = await freePort('127.0.0.6')
  const p = await startPortico({
    config: httpConfig(`
  - host: down.test
    proxy: { upstreams: ["http://127.0.0.6:${closedPort}"] }
  - host: hang.test
    proxy: { upstreams: ["${hang.origin}"], timeouts: { headers: 400ms } }
  - host: pool.test
    proxy: { upstreams: ["http://127.0.0.6:${closedPort}", "${a.origin}"] }
  - host: limit.test
    proxy: { upstreams: ["${a.origin}"], max_body_size: 1k }`)
  })
  t.teardown(() => p.stop('SIGKILL'))
  const down = await send(p.ports.http!, 'down.test')
  t.equal(down.status, 502)
  t.match(down.body, /refused/)
  const started = Date.now()
  const hung = await send(p.ports.http!, 'hang.test')
  t.equal(hung.status, 504)
  t.ok(Date.now() - started < 5000, 'timeout in bounded time')
  for (let i = 0; i < 6; i++) {
    const r = await send(p.ports.http!, 'pool.test', { path: `/${i}` })
    t.equal(r.status, 200, `pool request ${i} served despite a dead member`)
  }
  t.equal(a.seen.length, 6)
  const post = await send(p.ports.http!, 'pool.test', { path: '/p', headers: { 'content-length': '0' }, method: 'POST' })
  t.equal(post.status, 200)
  // The body limit's end-to-end smoke (its cases: test/unit/router-inject.test.ts).
  const big = await send(p.ports.http!, 'limit.test', { method: 'POST', body: Buffer.alloc(2048) })
  t.equal(big.status, 413, 'a body over max_body_size: 413')
  t.equal(a.seen.length, 7, 'and it never reached the upstream')
})

t.test('websocket echo, surviving a reload', async t => {
  const { port } = await wsUpstream(t, (ws, req) => { ws.on('message', (m, binary) => ws.send(binary ? m : `echo:${m.toString()}:${req.headers.host}`)) })
  const cfg = (extra: string): string => httpConfig(`
  - name: uap
    uap: { domain: uap.test, allow: [127.0.0.0/8] }
  - host: "${extra}"
    respond: { body: x }`)
  const p = await startPortico({ config: cfg('one.test') })
  t.teardown(() => p.stop('SIGKILL'))
  const ws = new WebSocket(`ws://127.0.0.1:${p.ports.http}/socket`, { headers: { host: `http-127-0-0-8-${port}.uap.test` } })
  await once(ws, 'open')
  const next = async (): Promise<string> => ((await once(ws, 'message'))[0] as Buffer).toString()
  ws.send('hello')
  t.equal(await next(), `echo:hello:http-127-0-0-8-${port}.uap.test`)
  // Reload while the socket is open.
  const from = p.logs.length
  const tmp = join(p.dir, 'x.yaml')
  await writeFile(tmp, cfg('two.test').replaceAll('${STATE}', join(p.dir, 'state')))
  await rename(tmp, p.configFile)
  await p.waitForLog(l => l.msg === 'config reloaded', 8000, from)
  ws.send('after-reload')
  t.equal(await next(), `echo:after-reload:http-127-0-0-8-${port}.uap.test`, 'websocket survives the reload')
  const big = Buffer.alloc(256 * 1024, 7)
  ws.send(big)
  const back = (await once(ws, 'message'))[0] as Buffer
  t.equal(Buffer.compare(back, big), 0, '256 KiB binary frame')
  ws.close()
  await once(ws, 'close')
  // A denied websocket target gets a 403 and no upgrade.
  const denied = new WebSocket(`ws://127.0.0.1:${p.ports.http}/`, { headers: { host: 'http-10-0-0-1-80.uap.test' } })
  const [, res] = await once(denied, 'unexpected-response') as [unknown, http.IncomingMessage]
  t.equal(res.statusCode, 403)
  denied.on('error', () => {})
  denied.terminate()
})

t.test('idle websocket tunnels are closed after websocket_idle_timeout', async t => {
  const { port } = await wsUpstream(t, ws => { ws.on('message', m => ws.send(m)) })
  const p = await startPortico({
    config: httpConfig(`
  - host: ws.test
    proxy: { upstreams: ["http://127.0.0.8:${port}"], websocket_idle_timeout: 600ms }`)
  })
  t.teardown(() => p.stop('SIGKILL'))
  const ws = new WebSocket(`ws://127.0.0.1:${p.ports.http}/`, { headers: { host: 'ws.test' } })
  await once(ws, 'open')
  const opened = Date.now()
  // Traffic keeps it open past the timeout...
  for (let i = 0; i < 4; i++) {
    await new Promise(resolve => setTimeout(resolve, 250))
    ws.send(`ping${i}`)
    await once(ws, 'message')
  }
  t.ok(Date.now() - opened > 900, 'active tunnel outlives the idle timeout')
  // ...silence closes it.
  const [code] = await once(ws, 'close') as [number]
  const idle = Date.now() - opened
  t.ok(idle < 5000, `closed after going idle (${idle} ms after open)`)
  t.equal(code, 1006, 'closed by the proxy, not by a close frame')
})
