import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { once } from 'node:events'
import type { Test } from 'tap'
import { WebSocketServer, type WebSocket } from 'ws'

/** A server listening on a loopback address, closed at teardown (or earlier by `close`). */
export interface Served {
  port: number
  /** `http://host:port`, IPv6 literals in brackets. */
  origin: string
  /** Connections accepted so far. */
  connections: () => number
  close: () => void
}

/**
 * The one way tests listen on loopback: `server` (http, https or net) on `host` (127.0.0.2 by
 * default; the network rule allows 127.0.0.0/8 and ::1), port 0. Closing drops open
 * connections too, so a teardown never waits for a keep-alive client.
 */
export async function serve (t: Test, server: net.Server, host = '127.0.0.2'): Promise<Served> {
  let connections = 0
  server.on('connection', () => { connections++ })
  server.listen(0, host)
  await once(server, 'listening')
  let closed = false
  const close = (): void => {
    if (closed) return
    closed = true
    if (server instanceof http.Server || server instanceof https.Server) server.closeAllConnections()
    server.close()
  }
  t.teardown(close)
  const port = (server.address() as net.AddressInfo).port
  return { port, origin: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, connections: () => connections, close }
}

/** A loopback HTTP upstream running `handler`. */
export async function httpUpstream (t: Test, handler: http.RequestListener, host = '127.0.0.2'): Promise<Served> {
  return await serve(t, http.createServer(handler), host)
}

/** A loopback HTTP app (keep-alive) and a websocket echo server, both closed at teardown. */
export async function appAndEcho (t: Test, handler: http.RequestListener): Promise<{ appPort: number, wsPort: number }> {
  const app = http.createServer(handler)
  app.keepAliveTimeout = 60_000
  const { port: appPort } = await serve(t, app, '127.0.0.1')
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(wss, 'listening')
  wss.on('connection', ws => ws.on('message', d => ws.send(d)))
  t.teardown(() => { for (const c of wss.clients) c.terminate(); wss.close() })
  return { appPort, wsPort: (wss.address() as net.AddressInfo).port }
}

/** What the echo upstream received, per request. */
export interface Echoed { method: string, url: string, headers: http.IncomingHttpHeaders, bytes: number }

/**
 * The shared loopback upstream: answers every request with a JSON echo of what it received
 * (method, url, headers, body length; `Echoed`), on 127.0.0.2 by default (or e.g. ::1), with
 * `extraHeaders` on every response. `seen` lists the requests in order.
 */
export async function echoUpstream (t: Test, host = '127.0.0.2', extraHeaders: Record<string, string> = {}): Promise<Served & { seen: Echoed[] }> {
  const seen: Echoed[] = []
  const served = await httpUpstream(t, (req, res) => {
    let bytes = 0
    req.on('data', (d: Buffer) => { bytes += d.length })
    req.on('end', () => {
      const echoed = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes }
      seen.push(echoed)
      res.writeHead(200, { 'content-type': 'application/json', ...extraHeaders })
      res.end(JSON.stringify(echoed))
    })
  }, host)
  return { ...served, seen }
}

/**
 * A loopback websocket server (on 127.0.0.8 by default) calling `onConnection` for each client;
 * plain requests go to `handler` (none: they are left unanswered).
 */
export async function wsUpstream (t: Test, onConnection: (ws: WebSocket, req: http.IncomingMessage) => void, host = '127.0.0.8', handler?: http.RequestListener): Promise<Served> {
  const server = http.createServer(handler)
  const wss = new WebSocketServer({ server })
  wss.on('connection', onConnection)
  t.teardown(() => { for (const c of wss.clients) c.terminate(); wss.close() })
  return await serve(t, server, host)
}
