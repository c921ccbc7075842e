import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { once } from 'node:events'
import type { Test } from 'tap'
import { parseConfigText } from '../../src/config/index.js'
import { DispatcherRegistry, createRequestHandler, type AccessEntry, type RouterDeps, type RouterView } from '../../src/router/index.js'
import { EngineListener, UpstreamPools } from '../../src/engine/index.js'
import { EMPTY_NAME_TABLE } from '../../src/dns/index.js'
import { buildSnapshot } from '../../src/daemon/build-snapshot.js'
import { send, type Reply, type SendOptions } from './http.js'
import { makeTempDir } from './portico.js'

export interface Mounted {
  port: number
  /** Access entries of the requests served so far. */
  access: AccessEntry[]
  /** Exceptions of portico's own reported on the request path (logged at error level by the daemon). */
  faults: Error[]
  /** The snapshot requests are served from. */
  view: RouterView
  send (host: string, opts?: SendOptions): Promise<Reply>
}

/**
 * In-process harness, like fastify's `inject`: compiles config text into a snapshot exactly as
 * the daemon does (`buildSnapshot`) and mounts the request handler on a port-0 loopback
 * listener — real sockets and upstream pools, no process to spawn. For router behaviour
 * (CORS, limits, header edits, Host rules); what needs the binary (signals, reloads, workers,
 * TLS listeners, client limits in the listener layer) stays in the end-to-end tests.
 * `routes` is the YAML list of routes; `extra` more top-level keys; `engine`: serve with the engine
 * (src/engine, the default HTTP/1.1 transport) instead of node:http.
 */
export async function mount (t: Test, routes: string, extra = '', opts: { engine?: boolean } = {}): Promise<Mounted> {
  const { dir, cleanup } = await makeTempDir('portico-inject-')
  const text = `state_dir: ${dir}\nadmin: null\nlisteners: [{ name: http, address: "127.0.0.1:0" }]\n${extra}\nroutes:\n${routes}\n`
  const dispatchers = new DispatcherRegistry()
  const { snapshot } = await buildSnapshot(parseConfigText(text, `${dir}/portico.yaml`), dispatchers, EMPTY_NAME_TABLE)
  const access: AccessEntry[] = []
  const faults: Error[] = []
  const deps: RouterDeps = { view: () => snapshot, access: e => access.push(e), fault: err => faults.push(err) }
  const listener = { name: 'http', tls: false }
  const sockets = new Set<net.Socket>()
  const pools = new UpstreamPools({ maxPerOrigin: 16, idleTimeoutMs: 4000 })
  // The engine (the default HTTP/1.1 transport) with the daemon's default client limits, or node:http.
  const engine = opts.engine === true
    ? new EngineListener({
      router: deps, listener, pools, inflight: () => {},
      limits: () => ({ maxHeaderSize: 16384, maxHeaders: 100, headerTimeoutMs: 30_000, keepaliveTimeoutMs: 65_000, requestTimeoutMs: 300_000 })
    })
    : undefined
  const server = engine === undefined
    ? http.createServer(createRequestHandler(deps, listener))
    : net.createServer(s => { sockets.add(s); s.once('close', () => sockets.delete(s)); engine.serve(s) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  t.teardown(async () => {
    if (server instanceof http.Server) server.closeAllConnections()
    for (const s of sockets) s.destroy()
    server.close()
    pools.closeIdle()
    await dispatchers.closeAll()
    await cleanup()
  })
  return { port, access, faults, view: snapshot, send: async (host, opts) => await send(port, host, opts) }
}
