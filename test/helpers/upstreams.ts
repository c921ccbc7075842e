import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import type { Test } from 'tap'
import { WebSocketServer } from 'ws'

/** A loopback HTTP app (keep-alive) and a websocket echo server, both closed at teardown. */
export async function appAndEcho (t: Test, handler: http.RequestListener): Promise<{ appPort: number, wsPort: number }> {
  const app = http.createServer(handler)
  app.keepAliveTimeout = 60_000
  app.listen(0, '127.0.0.1')
  await once(app, 'listening')
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(wss, 'listening')
  wss.on('connection', ws => ws.on('message', d => ws.send(d)))
  t.teardown(() => { app.closeAllConnections(); app.close(); for (const c of wss.clients) c.terminate(); wss.close() })
  return { appPort: (app.address() as net.AddressInfo).port, wsPort: (wss.address() as net.AddressInfo).port }
}

/**
 * The shared loopback upstream: answers every request with a JSON echo of what it received
 * (method, url, headers, body length), on 127.0.0.2 by default (or e.g. ::1). Closed at teardown.
 */
export async function echoUpstream (t: Test, host = '127.0.0.2', extraHeaders: Record<string, string> = {}): Promise<{ port: number, origin: string }> {
  const server = http.createServer((req, res) => {
    let bytes = 0
    req.on('data', (d: Buffer) => { bytes += d.length })
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', ...extraHeaders })
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bytes }))
    })
  })
  server.listen(0, host)
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const port = (server.address() as net.AddressInfo).port
  // IPv6 literals take brackets in an origin.
  return { port, origin: `http://${host.includes(':') ? `[${host}]` : host}:${port}` }
}
