import t, { type Test } from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import http from 'node:http'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { httpConfig, makeTempDir, startPortico } from '../helpers/portico.js'
import { send } from '../helpers/http.js'
import { mount } from '../helpers/inject.js'
import { makePki } from '../helpers/pki.js'
import { startFakeOpenStack } from '../helpers/fake-openstack.js'
import { watchRss, MiB } from '../helpers/rss.js'

const ORIGIN = 'https://exosphere.example.org'

const ccpRoute = (apiPort: number, caFile: string): string => `
  - name: ccp
    host: ccp.test
    cors: { preset: openstack, origins: ["${ORIGIN}", '~^http://localhost(:[0-9]+)?$'], credentials: true }
    cors_proxy:
      hosts: [localhost]
      networks: [127.0.0.0/8, "::1/128"]
      ports: ["${apiPort}"]
      tls: { ca_file: ${caFile} }`

type FakeApi = Awaited<ReturnType<typeof startFakeOpenStack>>

/** The fake OpenStack API with its private CA written to the temp dir. */
async function fakeApi (t: Test): Promise<{ api: FakeApi, dir: string }> {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const pki = makePki(['localhost', '127.0.0.1'])
  await writeFile(join(dir, 'ca.pem'), pki.caCert)
  const api = await startFakeOpenStack(pki)
  t.teardown(api.close)
  return { api, dir }
}

/**
 * CORS and CCP forwarding are router behaviour: served in-process (test/helpers/inject.ts), no
 * binary spawned. The binary (relative ca_file, memory of the process) is in the last test.
 */
async function setup (t: Test, extraRoutes = ''): Promise<{ api: FakeApi, port: number }> {
  const { api: fake, dir } = await fakeApi(t)
  const m = await mount(t, ccpRoute(fake.port, join(dir, 'ca.pem')) + extraRoutes)
  return { api: fake, port: m.port }
}

const exo = (port: number, host = 'localhost'): Record<string, string> => ({ 'exo-proxy-orig-host': host, 'exo-proxy-orig-port': String(port) })

t.test('CCP forwards with CORS, verifies the upstream, strips and replaces headers', async t => {
  const { api, port } = await setup(t)
  const r = await send(port, 'ccp.test', { method: 'POST', path: '/proxy/v3/auth/tokens?nocatalog&x=%2F', headers: { ...exo(api.port), origin: ORIGIN, 'content-type': 'application/json', 'x-auth-token': 'tok' }, body: Buffer.from('{"auth":{}}') })
  t.equal(r.status, 201)
  const body = JSON.parse(r.body) as { url: string, host: string, bytes: number, auth: string }
  t.equal(body.url, '/v3/auth/tokens?nocatalog&x=%2F', 'prefix removed, rest byte for byte')
  t.equal(body.host, `localhost:${api.port}`, 'Host is the target')
  t.equal(body.bytes, 11)
  t.equal(body.auth, 'tok')
  t.equal(api.seen[0]?.headers['exo-proxy-orig-host'], undefined, 'exo headers not forwarded')
  t.equal(api.seen[0]?.headers['exo-proxy-orig-port'], undefined)
  t.equal(r.headers['access-control-allow-origin'], ORIGIN, 'upstream * replaced by the echoed origin')
  t.equal(r.headers['access-control-allow-credentials'], 'true')
  t.equal(r.headers['access-control-expose-headers'], 'X-Subject-Token, OpenStack-API-Version, X-OpenStack-Request-Id')
  t.equal(r.headers.vary, 'Accept-Encoding, Origin', 'Vary merged')
  t.equal(r.headers['x-subject-token'], 'gAAAAA-token')

  const dev = await send(port, 'ccp.test', { path: '/proxy/v2.1/servers', headers: { ...exo(api.port), origin: 'http://localhost:8000' } })
  t.equal(dev.headers['access-control-allow-origin'], 'http://localhost:8000', 'regex origin')
  const other = await send(port, 'ccp.test', { path: '/proxy/', headers: { ...exo(api.port), origin: 'https://evil.example' } })
  t.equal(other.status, 200, 'disallowed origin is not blocked by default...')
  t.equal(other.headers['access-control-allow-origin'], undefined, '...but gets no CORS headers, and no upstream ones either')
  t.equal(other.headers['access-control-expose-headers'], undefined)
  const noPort = await send(port, 'ccp.test', { path: '/proxy', headers: { 'exo-proxy-orig-host': 'localhost', origin: ORIGIN } })
  t.equal(noPort.status, 403, 'default port 443 is not in the allowed ports here')
  t.equal(noPort.headers['access-control-allow-origin'], ORIGIN, 'errors carry CORS headers')
})

t.test('preflight is answered locally and never reaches the upstream', async t => {
  const { api, port } = await setup(t)
  const pre = await send(port, 'ccp.test', { method: 'OPTIONS', path: '/proxy/v3/auth/tokens', headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-auth-token, exo-proxy-orig-host, exo-proxy-orig-port, content-type' } })
  t.equal(pre.status, 204)
  t.equal(pre.headers['access-control-allow-origin'], ORIGIN)
  t.equal(pre.headers['access-control-allow-methods'], 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS')
  t.match(pre.headers['access-control-allow-headers'], /X-Auth-Token.*exo-proxy-orig-host, exo-proxy-orig-port/)
  t.equal(pre.headers['access-control-max-age'], '86400')
  const bad = await send(port, 'ccp.test', { method: 'OPTIONS', path: '/proxy/x', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } })
  t.equal(bad.status, 204)
  t.equal(bad.headers['access-control-allow-origin'], undefined, 'no CORS for a disallowed origin')
  t.equal(api.seen.length, 0, 'no preflight reached the upstream')
})

t.test('upstream failures are 502/504 with CORS headers; TLS verification is on', async t => {
  const { api, port } = await setup(t, `
  - name: ccp-noca
    host: noca.test
    cors: { preset: openstack, origins: ["${ORIGIN}"] }
    cors_proxy: { hosts: [localhost], networks: [127.0.0.0/8, "::1/128"], ports: ["1-65535"] }
  - name: ccp-strict
    host: strict.test
    cors: { preset: openstack, origins: ["${ORIGIN}"], deny_disallowed: true }
    cors_proxy: { hosts: [localhost], networks: [127.0.0.0/8, "::1/128"], ports: ["1-65535"] }`)
  const strict = await send(port, 'strict.test', { path: '/proxy/', headers: { ...exo(api.port), origin: 'https://evil.example' } })
  t.equal(strict.status, 403, 'deny_disallowed answers 403')
  t.match(strict.body, /origin not allowed/)
  const strictPre = await send(port, 'strict.test', { method: 'OPTIONS', path: '/proxy/', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } })
  t.equal(strictPre.status, 403, 'also for preflights')
  const strictOk = await send(port, 'strict.test', { path: '/proxy/', headers: { ...exo(api.port), origin: ORIGIN } })
  t.equal(strictOk.status, 502, 'an allowed origin passes the origin check (then fails TLS without ca_file)')
  const noCa = await send(port, 'noca.test', { path: '/proxy/', headers: { ...exo(api.port), origin: ORIGIN } })
  t.equal(noCa.status, 502, 'a private-CA certificate is refused without ca_file')
  t.equal(noCa.headers['access-control-allow-origin'], ORIGIN)
  api.close()
  await new Promise(resolve => setTimeout(resolve, 100))
  const down = await send(port, 'ccp.test', { path: '/proxy/', headers: { ...exo(api.port), origin: ORIGIN } })
  t.equal(down.status, 502)
  t.equal(down.headers['access-control-allow-origin'], ORIGIN, '502 carries CORS headers')
  t.match(down.body, /refused/)
})

t.test('256 MiB each way through the CCP with bounded memory', async t => {
  const { api, dir } = await fakeApi(t)
  const p = await startPortico({ dir, config: httpConfig(ccpRoute(api.port, 'ca.pem')) })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.http!
  const chunk = Buffer.alloc(256 * 1024, 1)
  const upload = async (N: number): Promise<string> => await new Promise<string>((resolve, reject) => {
    let left = N
    const src = new Readable({ read () { if (left <= 0) { this.push(null); return } left -= chunk.length; this.push(chunk) } })
    const req = http.request({ host: '127.0.0.1', port, method: 'PUT', path: '/proxy/v2/images/1/file', headers: { host: 'ccp.test', ...exo(api.port), 'content-type': 'application/octet-stream', 'content-length': N }, agent: false }, res => {
      let b = ''
      res.on('data', (d: Buffer) => { b += d.toString() })
      res.on('end', () => resolve(b))
    })
    req.on('error', reject)
    void pipeline(src, req).catch(reject)
  })
  const download = async (N: number): Promise<number> => await new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: `/proxy/v2/images/big?${N}`, headers: { host: 'ccp.test', ...exo(api.port) }, agent: false }, res => {
      let n = 0
      res.on('data', (d: Buffer) => { n += d.length })
      res.on('end', () => resolve(n))
    }).on('error', reject)
  })
  // Warm-up first (JIT, TLS session, the GC's steady state), then measure 256 MiB each way.
  t.equal((JSON.parse(await upload(128 * MiB)) as { bytes: number }).bytes, 128 * MiB)
  t.equal(await download(128 * MiB), 128 * MiB)
  const rss = await watchRss(p.child.pid!)
  const N = 256 * MiB
  t.equal((JSON.parse(await upload(N)) as { bytes: number }).bytes, N, 'upload streamed to the API')
  t.equal(await download(N), N, 'download streamed from the API')
  const { growth } = rss.stop()
  t.comment(`portico RSS growth during 2 × 256 MiB: ${(growth / MiB).toFixed(1)} MiB`)
  t.ok(growth < 64 * MiB, 'RSS growth below 64 MiB')
})
