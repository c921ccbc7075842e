import t from 'tap'
import type { Test } from 'tap'
import pino from 'pino'
import { Writable } from 'node:stream'
import type { AddressInfo } from 'node:net'
import { startAdmin, type AdminBackend } from '../../src/admin/index.js'
import { send } from '../helpers/http.js'

/** A daemon stand-in: the admin server is the edge under test; these are its callbacks. */
function backend (overrides: Partial<AdminBackend> = {}): AdminBackend & { reloads: number } {
  const b = {
    reloads: 0,
    ready: async () => ({ ready: true, status: 'ready', detail: {} }),
    activeConfig: () => ({ shutdown_timeout: 10_000, routes: [{ proxy: { timeouts: { connect: 500, headers: 60_000 }, retries: 1 } }], dns: { ttl: 5000 } }),
    names: () => ({}),
    certificates: async () => [],
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    statusPage: async () => '<html></html>',
    renew: async () => ({ ok: true }),
    reload: async () => { b.reloads++; return { ok: true, generation: 2 } },
    ...overrides
  }
  return b
}

async function admin (t: Test, b: AdminBackend, settings = {}): Promise<{ port: number, lines: Array<Record<string, unknown>> }> {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({ write (chunk: Buffer, _e, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb() } })
  const a = await startAdmin('127.0.0.1:0', { token: undefined, allowedOrigins: [], allowedHosts: [], ...settings }, { backend: b, log: pino(sink) })
  t.teardown(() => a.close())
  return { port: (a.server.address() as AddressInfo).port, lines }
}

t.test('a handler that throws answers 500 with a request id, logged with the error', async t => {
  const { port, lines } = await admin(t, backend({ statusPage: async () => { throw new Error('boom in the status page') } }))
  const r = await send(port, `127.0.0.1:${port}`, { path: '/' })
  t.equal(r.status, 500)
  const body = JSON.parse(r.body) as { error: string, rid: string }
  t.match(body, { error: 'internal error', rid: /^[0-9a-f]{12}$/ })
  const logged = lines.find(l => l.msg === 'admin request failed')
  t.equal(logged?.rid, body.rid, 'the same id in the log')
  t.match((logged?.err as { message: string }).message, /boom in the status page/)
  t.equal((await send(port, `127.0.0.1:${port}`, { path: '/healthz' })).status, 200, 'and the server still answers')
})

t.test('Host must name the listener; POSTs need the admin header and an allowed Origin', async t => {
  const b = backend()
  const { port } = await admin(t, b, { allowedOrigins: ['https://ops.example.org'], allowedHosts: ['admin.example.org'] })
  const get = async (host: string): Promise<number> => (await send(port, host, { path: '/readyz' })).status
  t.equal(await get(`127.0.0.1:${port}`), 200)
  t.equal(await get(`localhost:${port}`), 200)
  t.equal(await get('admin.example.org'), 200, 'an allowed_hosts entry')
  t.equal(await get(`rebound.example.com:${port}`), 421, 'a DNS-rebound name is refused')
  t.equal(await get(`127.0.0.1:${port + 1}`), 421, 'another port')
  t.equal((await send(port, 'rebound.example.com', { path: '/healthz' })).status, 200, 'liveness answers under any name (probes through a proxy)')
  const post = async (headers: Record<string, string>): Promise<number> => (await send(port, `127.0.0.1:${port}`, { method: 'POST', path: '/reload', headers })).status
  t.equal(await post({}), 403, 'no X-Portico-Admin header')
  t.equal(await post({ 'content-type': 'text/plain' }), 403, 'a simple (form-like) request')
  t.equal(await post({ 'x-portico-admin': '1', origin: 'https://evil.example' }), 403, 'a foreign Origin')
  t.equal(await post({ 'x-portico-admin': '1', origin: 'null' }), 403, 'an opaque Origin')
  t.equal(b.reloads, 0, 'none of these reloaded')
  t.equal(await post({ 'x-portico-admin': '1' }), 200, 'curl with the header')
  t.equal(await post({ 'x-portico-admin': '1', origin: 'https://ops.example.org' }), 200, 'an allowed Origin')
  t.equal(b.reloads, 2)
})

t.test('/config prints durations as the file writes them', async t => {
  const { port } = await admin(t, backend())
  const cfg = JSON.parse((await send(port, `127.0.0.1:${port}`, { path: '/config' })).body) as Record<string, unknown>
  t.same(cfg, { shutdown_timeout: '10s', routes: [{ proxy: { timeouts: { connect: '500ms', headers: '1m' }, retries: 1 } }], dns: { ttl: '5s' } })
})
