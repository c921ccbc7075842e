import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { WebSocketServer, WebSocket } from 'ws'
import { freePort, httpConfig, startPortico } from '../helpers/portico.js'
import { send, type Reply } from '../helpers/http.js'

interface Seen { method: string, url: string, headers: http.IncomingHttpHeaders }

/** A loopback upstream that echoes what it received and counts connections. */
async function upstream (host: string, handler?: http.RequestListener): Promise<{ port: number, seen: Seen[], connections: () => number, close: () => void }> {
  const seen: Seen[] = []
  let connections = 0
  const server = http.createServer(handler ?? ((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })
    req.resume()
    req.on('end', () => {
      const body = JSON.stringify({ upstream: `${host}`, url: req.url, headers: req.headers })
      res.writeHead(200, { 'content-type': 'application/json', connection: 'x-upstream-hop', 'x-upstream-hop': 'drop me', 'keep-alive': 'timeout=5' })
      res.end(body)
    })
  }))
  server.on('connection', () => { connections++ })
  server.listen(0, host)
  await once(server, 'listening')
  return { port: (server.address() as net.AddressInfo).port, seen, connections: () => connections, close: () => { server.closeAllConnections(); server.close() } }
}

async function request (port: number, host: string, path = '/', headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return await send(port, host, { path, headers, method })
}

const base = (routes: string, extra = ''): string => httpConfig(routes, extra)

t.test('UAP to a loopback instance', async t => {
  const app = await upstream('127.0.0.2')
  const refused = await upstream('127.0.0.3')
  t.teardown(() => { app.close(); refused.close() })
  const p = await startPortico({
    config: base(`
  - name: uap
    uap: { domain: uap.test, allow: [127.0.0.2/32], ports: ["${app.port}", "${refused.port}"] }`)
  })
  t.teardown(() => p.stop('SIGKILL'))
  const host = `http-127-0-0-2-${app.port}.uap.test`
  const r = await request(p.ports.http!, host.toUpperCase(), '/lab/tree?token=a%2Fb&x=%20y', { connection: 'keep-alive, x-drop', 'x-drop': '1', 'x-keep': '2' })
  t.equal(r.status, 200)
  const echoed = JSON.parse(r.body) as { url: string, headers: http.IncomingHttpHeaders }
  t.equal(echoed.url, '/lab/tree?token=a%2Fb&x=%20y', 'path and query byte for byte')
  t.equal(echoed.headers.host, host.toUpperCase(), 'Host passed unchanged')
  t.equal(echoed.headers['x-forwarded-proto'], 'http')
  t.equal(echoed.headers['x-forwarded-for'], '127.0.0.1')
  t.equal(echoed.headers['x-forwarded-host'], host.toUpperCase())
  t.match(echoed.headers.forwarded, /^for=127\.0\.0\.1;proto=http;host="/)
  t.ok(echoed.headers['x-request-id'])
  t.equal(echoed.headers['x-drop'], undefined, 'header named in Connection dropped')
  t.equal(echoed.headers['x-keep'], '2')
  t.equal(r.headers['x-upstream-hop'], undefined, 'response header named in Connection dropped')
  t.not(r.headers['keep-alive'], 'timeout=5', "upstream's keep-alive not passed on")

  // Denied: outside the CIDR. The listener on 127.0.0.3 must see no connection.
  const denied = await request(p.ports.http!, `http-127-0-0-3-${refused.port}.uap.test`)
  t.equal(denied.status, 403)
  t.match(denied.body, /outside the allowed networks/)
  const badPort = await request(p.ports.http!, `http-127-0-0-2-${app.port + 1}.uap.test`)
  t.equal(badPort.status, 403)
  for (const h of ['999-1-1-1-80.uap.test', `http-127-0-0-02-${app.port}.uap.test`, `x.http-127-0-0-2-${app.port}.uap.test`]) {
    t.equal((await request(p.ports.http!, h)).status, 403, h)
  }
  t.equal(refused.connections(), 0, 'no connection attempted to a denied target')
  t.equal((await request(p.ports.http!, 'other.test')).status, 404)
  const json = await request(p.ports.http!, '999-1-1-1-80.uap.test', '/', { accept: 'application/json' })
  t.match(JSON.parse(json.body), { status: 403, request_id: String })
})

t.test('502, 504, pools with passive health and retry', async t => {
  const a = await upstream('127.0.0.4')
  const hang = await upstream('127.0.0.5', () => { /* never answers */ })
  const closedPort = await freePort('127.0.0.6')
  t.teardown(() => { a.close(); hang.close() })
  const p = await startPortico({
    config: base(`
  - host: down.test
    proxy: { upstreams: ["http://127.0.0.6:${closedPort}"] }
  - host: hang.test
    proxy: { upstreams: ["http://127.0.0.5:${hang.port}"], timeouts: { headers: 400ms } }
  - host: pool.test
    proxy: { upstreams: ["http://127.0.0.6:${closedPort}", "http://127.0.0.4:${a.port}"] }`)
  })
  t.teardown(() => p.stop('SIGKILL'))
  const down = await request(p.ports.http!, 'down.test')
  t.equal(down.status, 502)
  t.match(down.body, /refused/)
  const started = Date.now()
  const hung = await request(p.ports.http!, 'hang.test')
  t.equal(hung.status, 504)
  t.ok(Date.now() - started < 5000, 'timeout in bounded time')
  for (let i = 0; i < 6; i++) {
    const r = await request(p.ports.http!, 'pool.test', `/${i}`)
    t.equal(r.status, 200, `pool request ${i} served despite a dead member`)
  }
  t.equal(a.seen.length, 6)
  const post = await request(p.ports.http!, 'pool.test', '/p', { 'content-length': '0' }, 'POST')
  t.equal(post.status, 200)
})

t.test('trusted proxies', async t => {
  const app = await upstream('127.0.0.7')
  t.teardown(() => app.close())
  const routes = `
  - host: "*"
    proxy: { upstreams: ["http://127.0.0.7:${app.port}"] }`
  const untrusted = await startPortico({ config: base(routes) })
  t.teardown(() => untrusted.stop('SIGKILL'))
  const spoof = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', forwarded: 'for=203.0.113.9' }
  let h = (JSON.parse((await request(untrusted.ports.http!, 'a.test', '/', spoof)).body) as { headers: http.IncomingHttpHeaders }).headers
  t.equal(h['x-forwarded-for'], '127.0.0.1', 'spoofed XFF replaced')
  t.equal(h['x-forwarded-proto'], 'http')
  t.equal(h.forwarded, 'for=127.0.0.1;proto=http;host="a.test"')
  const trusted = await startPortico({ config: base(routes, 'trusted_proxies: [127.0.0.1/32]') })
  t.teardown(() => trusted.stop('SIGKILL'))
  h = (JSON.parse((await request(trusted.ports.http!, 'a.test', '/', spoof)).body) as { headers: http.IncomingHttpHeaders }).headers
  t.equal(h['x-forwarded-for'], '203.0.113.9, 127.0.0.1', 'trusted XFF extended')
  t.equal(h['x-forwarded-proto'], 'https')
  t.equal(h.forwarded, 'for=203.0.113.9, for=127.0.0.1;proto=http;host="a.test"')
})

t.test('websocket echo, surviving a reload', async t => {
  const server = http.createServer()
  const wss = new WebSocketServer({ server })
  wss.on('connection', (ws, req) => { ws.on('message', (m, binary) => ws.send(binary ? m : `echo:${m.toString()}:${req.headers.host}`)) })
  server.listen(0, '127.0.0.8')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  t.teardown(() => { wss.close(); server.closeAllConnections(); server.close() })
  const cfg = (extra: string): string => base(`
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
  const server = http.createServer()
  const wss = new WebSocketServer({ server })
  wss.on('connection', ws => { ws.on('message', m => ws.send(m)) })
  server.listen(0, '127.0.0.8')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  t.teardown(() => { wss.close(); server.closeAllConnections(); server.close() })
  const p = await startPortico({
    config: base(`
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
