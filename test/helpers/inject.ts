import http from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import { parseConfigText } from '../../src/config/index.js'
import { DispatcherRegistry, createRequestHandler, type AccessEntry } from '../../src/router/index.js'
import { EMPTY_NAME_TABLE } from '../../src/dns/index.js'
import { buildSnapshot } from '../../src/daemon/build-snapshot.js'
import { send, type Reply, type SendOptions } from './http.js'
import { makeTempDir } from './portico.js'

export interface Mounted {
  port: number
  /** Access entries of the requests served so far. */
  access: AccessEntry[]
  send (host: string, opts?: SendOptions): Promise<Reply>
}

/**
 * In-process harness, like fastify's `inject`: compiles config text into a snapshot exactly as
 * the daemon does (`buildSnapshot`) and mounts the request handler on a port-0 loopback
 * listener — real sockets and upstream pools, no process to spawn. For router behaviour
 * (CORS, limits, header edits, Host rules); what needs the binary (signals, reloads, workers,
 * TLS listeners, client limits in the listener layer) stays in the end-to-end tests.
 * `routes` is the YAML list of routes; `extra` more top-level keys.
 */
export async function mount (t: Test, routes: string, extra = ''): Promise<Mounted> {
  const { dir, cleanup } = await makeTempDir('portico-inject-')
  const text = `state_dir: ${dir}\nadmin: null\nlisteners: [{ name: http, address: "127.0.0.1:0" }]\n${extra}\nroutes:\n${routes}\n`
  const dispatchers = new DispatcherRegistry()
  const { snapshot } = await buildSnapshot(parseConfigText(text, `${dir}/portico.yaml`), dispatchers, EMPTY_NAME_TABLE)
  const access: AccessEntry[] = []
  const server = http.createServer(createRequestHandler({ view: () => snapshot, access: e => access.push(e) }, { name: 'http', tls: false }))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  t.teardown(async () => {
    server.closeAllConnections()
    server.close()
    await dispatchers.closeAll()
    await cleanup()
  })
  return { port, access, send: async (host, opts) => await send(port, host, opts) }
}
