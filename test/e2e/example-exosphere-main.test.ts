import t from 'tap'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import { isMap, isSeq, parseDocument, type YAMLMap } from 'yaml'
import { makeTempDir, runCli, startPortico } from '../helpers/portico.js'
import { fetchBytes } from '../helpers/fetch-bytes.js'
import { makePki } from '../helpers/pki.js'
import { startFakeOpenStack } from '../helpers/fake-openstack.js'

const EXAMPLE = resolve(import.meta.dirname, '../../config/examples/exosphere-main.yaml')

/**
 * Issue 22.4: the example as shipped, with only what ties it to a real host substituted:
 * loopback listeners, a self-signed certificate for ACME, the webroot, and the CCP's target
 * (a loopback fake OpenStack with its own CA) — routes, static, compress and CORS stay as written.
 */
function substitute (text: string, site: string, apiPort: number, caFile: string, state: string): string {
  const doc = parseDocument(text)
  doc.set('state_dir', state)
  doc.set('admin', null)
  doc.delete('acme')
  doc.set('tls', doc.createNode({ self_signed: { names: ['exosphere.example.org'] } }))
  const listeners = doc.get('listeners')
  if (isSeq(listeners)) for (const l of listeners.items) if (isMap(l)) l.set('address', '127.0.0.1:0')
  const routes = doc.get('routes')
  if (!isSeq(routes)) throw new Error('routes')
  for (const r of routes.items as YAMLMap[]) {
    if (r.has('static')) r.setIn(['static', 'root'], site)
    if (r.has('cors_proxy')) {
      r.setIn(['cors_proxy', 'hosts'], doc.createNode(['localhost']))
      r.setIn(['cors_proxy', 'networks'], doc.createNode(['127.0.0.0/8']))
      r.setIn(['cors_proxy', 'ports'], doc.createNode([apiPort]))
      r.setIn(['cors_proxy', 'tls', 'ca_file'], caFile)
    }
  }
  return doc.toString()
}

t.test('config/examples/exosphere-main.yaml runs on loopback: SPA fallback, immutable asset, compression, CCP', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const site = join(dir, 'www')
  await mkdir(join(site, 'assets', 'fonts'), { recursive: true })
  const index = '<!doctype html><html><head><script src="/elm-web.js"></script></head><body></body></html>\n'
  const elm = 'var Elm = {}; function F2(fun) { return fun; }\n'.repeat(2000)
  await writeFile(join(site, 'index.html'), index)
  await writeFile(join(site, 'elm-web.js'), elm)
  await writeFile(join(site, 'assets', 'fonts', 'inter.woff2'), Buffer.alloc(4000, 7))
  const pki = makePki(['localhost', '127.0.0.1'])
  const caFile = join(dir, 'ca.pem')
  await writeFile(caFile, pki.caCert)
  const api = await startFakeOpenStack(pki)
  t.teardown(api.close)

  const shipped = await runCli(['check', '--config', EXAMPLE], 60_000)
  t.same(shipped.stderr.trim().split('\n').map(l => l.replace(/^.*?:\d+:\d+: /, '')), ['routes[1].static.root: cannot read /var/www/exosphere: ENOENT'],
    'as shipped, check only misses the host\'s webroot')
  const config = substitute(await readFile(EXAMPLE, 'utf8'), site, api.port, caFile, join(dir, 'state'))
  const file = join(dir, 'exosphere-main.yaml')
  await writeFile(file, config)
  const checked = await runCli(['check', '--config', file], 60_000)
  t.same([checked.code, checked.stdout], [0, 'ok\n'], `check passes with the host's paths: ${checked.stderr}`)

  const explained = await runCli(['explain', '--config', EXAMPLE, 'exosphere.example.org/projects/1', 'exosphere.example.org/proxy/v3'])
  t.match(explained.stdout.trim().split('\n').map(l => JSON.parse(l) as unknown), [{ route: 'app', action: 'static' }, { route: 'ccp', action: 'cors-proxy' }], 'explain names the actions')
  const p = await startPortico({ dir, config })
  t.teardown(() => p.stop('SIGKILL'))
  const https = p.ports.https!
  const get = async (path: string, headers: Record<string, string> = {}): ReturnType<typeof fetchBytes> =>
    await fetchBytes(https, 'exosphere.example.org', { path, headers, tls: true })

  const redirect = await fetchBytes(p.ports.http!, 'exosphere.example.org', { path: '/projects/1' })
  t.equal(redirect.status, 301, 'plain HTTP goes to HTTPS')
  const deep = await get('/projects/7a1b/servers', { accept: 'text/html' })
  t.same([deep.status, deep.body.toString(), deep.headers['cache-control']], [200, index, 'no-cache'], 'SPA fallback: a deep link loads index.html')
  t.equal(deep.headers['strict-transport-security'], 'max-age=31536000')
  const font = await get('/assets/fonts/inter.woff2')
  t.same([font.status, font.headers['cache-control'], font.headers['content-type']], [200, 'public, max-age=31536000, immutable', 'font/woff2'], 'assets are immutable')
  const js = await get('/elm-web.js', { 'accept-encoding': 'gzip, deflate, br' })
  t.same([js.status, js.headers['content-encoding'], js.headers.vary], [200, 'br', 'Accept-Encoding'], 'the app is compressed')
  t.equal(brotliDecompressSync(js.body).toString(), elm)
  t.ok(js.body.length < elm.length / 20, `${elm.length} → ${js.body.length} bytes`)
  const again = await get('/elm-web.js', { 'accept-encoding': 'br', 'if-none-match': js.headers.etag! })
  t.equal(again.status, 304, 'revalidation with the (weak) ETag')

  const ccp = await get('/proxy/v3/auth/tokens', {
    origin: 'https://exosphere.example.org', 'exo-proxy-orig-host': 'localhost', 'exo-proxy-orig-port': String(api.port), 'accept-encoding': 'gzip'
  })
  t.same([ccp.status, ccp.headers['content-encoding']], [201, 'gzip'], 'the CCP answer (JSON of unknown length) is compressed')
  t.match(JSON.parse(gunzipSync(ccp.body).toString()), { method: 'GET', url: '/v3/auth/tokens', host: `localhost:${api.port}` }, 'from the loopback API')
  t.equal(ccp.headers['access-control-allow-origin'], 'https://exosphere.example.org')
  t.equal(ccp.headers['x-subject-token'], 'gAAAAA-token')
  t.equal(api.seen.at(-1)?.url, '/v3/auth/tokens', 'prefix removed')
  t.equal(api.seen.at(-1)?.headers['exo-proxy-orig-host'], undefined)
})
