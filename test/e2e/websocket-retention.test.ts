import t from 'tap'
import http from 'node:http'
import { once } from 'node:events'
import { setImmediate as tick } from 'node:timers/promises'
import v8 from 'node:v8'
import vm from 'node:vm'
import type { AddressInfo } from 'node:net'
import { WebSocket, WebSocketServer } from 'ws'
import { parseConfigText } from '../../src/config/index.js'
import { compileRouteTable, createUpgradeHandler, DispatcherRegistry, type RouterView } from '../../src/router/index.js'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

// The upgrade handler in-process, between a real client and a real ws echo server on loopback:
// once a tunnel is open, nothing of the request that opened it and nothing of the snapshot that
// routed it may stay reachable — idle websockets would carry both (memory per tunnel, and parts
// of replaced snapshots kept for as long as a websocket lives).
t.test('an open tunnel keeps neither its request nor the snapshot that routed it', async t => {
  const echo = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(echo, 'listening')
  echo.on('connection', ws => { ws.on('message', m => { ws.send(m) }) })
  t.teardown(() => { for (const c of echo.clients) c.terminate(); echo.close() })
  const dispatchers = new DispatcherRegistry()
  t.teardown(async () => { await dispatchers.closeAll() })
  const compile = async (): Promise<RouterView> => {
    const routes = compileRouteTable(parseConfigText(`listeners: [{ name: h, address: "127.0.0.1:0" }]
routes:
  - proxy: { upstreams: ["http://127.0.0.1:${(echo.address() as AddressInfo).port}"] }
`, 't.yaml'))
    await dispatchers.prepare(routes)
    return { generation: 1, routes, trustedProxies: undefined, dispatchers, accessLog: false, via: false, strictSniHost: false, names: undefined, acmeHttp: undefined }
  }
  let view: RouterView | undefined = await compile()
  const routesRef = new WeakRef(view.routes)
  const routeRef = new WeakRef(view.routes.routes[0]!)
  const requests: Array<WeakRef<http.IncomingMessage>> = []
  const upgrade = createUpgradeHandler({ view: () => view!, access: () => {} }, { name: 'h', tls: false })
  const server = http.createServer()
  server.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) => { requests.push(new WeakRef(req)); upgrade(req, socket, head) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`
  const roundTrip = async (ws: WebSocket, text: string): Promise<string> => {
    const reply = once(ws, 'message')
    ws.send(text)
    return String((await reply)[0])
  }
  const clients = await Promise.all(Array.from({ length: 3 }, async () => { const ws = new WebSocket(url); await once(ws, 'open'); return ws }))
  t.teardown(() => { for (const ws of clients) ws.terminate() })
  for (const [i, ws] of clients.entries()) t.equal(await roundTrip(ws, `hello ${i}`), `hello ${i}`, `tunnel ${i} echoes`)

  view = undefined // a reload replaced the snapshot
  for (let i = 0; i < 20 && (routesRef.deref() !== undefined || routeRef.deref() !== undefined || requests.some(r => r.deref() !== undefined)); i++) {
    await tick()
    gc()
  }
  t.equal(requests.length, 3, 'three upgrade requests seen')
  t.equal(requests.filter(r => r.deref() !== undefined).length, 0, 'the upgrade requests are collected while their tunnels stay open')
  t.equal(routesRef.deref(), undefined, 'the replaced snapshot\'s route table is collected')
  t.equal(routeRef.deref(), undefined, 'and the route that decided the upgrade')
  for (const [i, ws] of clients.entries()) t.equal(await roundTrip(ws, `again ${i}`), `again ${i}`, `tunnel ${i} still echoes`)
})
