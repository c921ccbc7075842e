import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { isMap, isSeq, parseDocument } from 'yaml'
import { send } from '../helpers/http.js'
import { fetchBytes } from '../helpers/fetch-bytes.js'
import { makeTempDir, runCli, startPortico } from '../helpers/portico.js'

/**
 * config/examples/tator-edge.yaml passes `portico check` (but for the host's two webroots) and
 * runs on loopback: the same routes, with each 127.0.0.1:PORT service replaced by a loopback
 * test server, the webroots by temporary directories, a self-signed certificate instead of
 * ACME and listeners on free ports.
 */
const EXAMPLE = resolve(import.meta.dirname, '../../config/examples/tator-edge.yaml')

t.test('tator-edge.yaml: check passes, and it serves on loopback', async t => {
  // A generous limit: on a loaded CI machine a cold start alone can take several seconds.
  const checked = await runCli(['check', '--config', EXAMPLE], 120_000)
  t.same(checked.stderr.trim().split('\n').map(l => l.replace(/^.*?:\d+:\d+: /, '')).sort(), [
    'routes[0].static.root: cannot read /srv/tator/static: ENOENT', 'routes[1].static.root: cannot read /srv/tator/media: ENOENT'
  ], 'as shipped, check only misses the host\'s two webroots')
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const roots: Record<string, string> = { '/srv/tator/static': join(dir, 'static'), '/srv/tator/media': join(dir, 'media') }
  for (const root of Object.values(roots)) await mkdir(root)
  const appJs = `console.log(${JSON.stringify('tator '.repeat(400))})\n`
  await writeFile(join(roots['/srv/tator/static']!, 'app.3f9a1c2e.js'), appJs)
  await writeFile(join(roots['/srv/tator/media']!, 'clip.mp4'), Buffer.alloc(4096, 7))

  // One loopback server per service port of the example: echoes what it got; :8000 also plays Tator's /auth-admin.
  const origins = new Map<string, string>()
  const text = await readFile(EXAMPLE, 'utf8')
  for (const port of new Set([...text.matchAll(/http:\/\/127\.0\.0\.1:(\d+)/g)].map(m => m[1]!))) {
    const server = http.createServer((req, res) => {
      if (req.url === '/auth-project') {
        res.writeHead(req.headers.cookie === 'sessionid=member' ? 204 : 403)
        res.end()
        return
      }
      if (req.url === '/auth-admin') {
        const ok = req.headers.cookie === 'sessionid=admin'
        res.writeHead(ok ? 200 : 302, ok ? { 'x-webauth-user': 'admin' } : { location: '/accounts/login/' })
        res.end()
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ service: port, url: req.url, headers: req.headers }))
    })
    server.listen(0, '127.0.0.2')
    await once(server, 'listening')
    t.teardown(() => { server.closeAllConnections(); server.close() })
    origins.set(port, `http://127.0.0.2:${(server.address() as net.AddressInfo).port}`)
  }
  const doc = parseDocument(text.replace(/http:\/\/127\.0\.0\.1:(\d+)/g, (_m, port: string) => origins.get(port)!))
  const routes = doc.get('routes')
  if (isSeq(routes)) {
    for (const r of routes.items) if (isMap(r) && r.has('static')) r.setIn(['static', 'root'], roots[String(r.getIn(['static', 'root']))])
  }
  doc.set('state_dir', '${STATE}')
  doc.set('admin', null)
  doc.delete('acme')
  doc.set('tls', { self_signed: { names: ['tator.example.org'] } })
  doc.set('listeners', [{ name: 'http', address: '127.0.0.1:0' }, { name: 'https', address: '127.0.0.1:0', tls: true }])
  const p = await startPortico({ config: doc.toString() })
  t.teardown(() => p.stop('SIGKILL'))
  const get = async (path: string, headers: Record<string, string> = {}): Promise<{ status: number, json: { service: string, url: string, headers: http.IncomingHttpHeaders } | undefined, location: string | undefined }> => {
    const r = await send(p.ports.https!, 'tator.example.org', { tls: true, path, headers })
    return { status: r.status, json: r.headers['content-type'] === 'application/json' ? JSON.parse(r.body) : undefined, location: r.headers.location }
  }

  const obj = await get('/objects/videos/a%2Fb.mp4?X-Amz-Signature=ab%2Fc')
  t.same([obj.json?.service, obj.json?.url, obj.json?.headers['x-real-ip']], ['9000', '/tator/videos/a%2Fb.mp4?X-Amz-Signature=ab%2Fc', '127.0.0.1'])
  t.same(await get('/grafana/d/x'), { status: 302, json: undefined, location: '/accounts/login/' }, 'admin UI without a session: Tator\'s login redirect')
  const grafana = await get('/grafana/d/x', { cookie: 'sessionid=admin', 'x-webauth-user': 'forged' })
  t.same([grafana.json?.service, grafana.json?.url, grafana.json?.headers['x-webauth-user']], ['3000', '/grafana/d/x', 'admin'])
  const argo = await get('/argo/workflows', { cookie: 'sessionid=admin' })
  t.same([argo.json?.service, argo.json?.url], ['2746', '/workflows'])
  const app = await get('/rest/Projects')
  t.same([app.json?.service, app.json?.url], ['8000', '/rest/Projects'])
  const js = await fetchBytes(p.ports.https!, 'tator.example.org', { tls: true, path: '/static/app.3f9a1c2e.js', headers: { 'accept-encoding': 'gzip' } })
  t.same([js.status, js.headers['cache-control'], js.headers['content-encoding'], gunzipSync(js.body).toString()],
    [200, 'public, max-age=31536000, immutable', 'gzip', appJs], 'a hashed static asset: cached for a year, compressed')
  t.equal((await get('/media/clip.mp4')).status, 403, 'media without a project session: the auth service\'s 403')
  const clip = await fetchBytes(p.ports.https!, 'tator.example.org', { tls: true, path: '/media/clip.mp4', headers: { cookie: 'sessionid=member', range: 'bytes=0-99' } })
  t.same([clip.status, clip.body.length, clip.headers['content-range']], [206, 100, 'bytes 0-99/4096'], 'media for a member, with byte ranges for seeking')
  const api = await fetchBytes(p.ports.https!, 'tator.example.org', { tls: true, path: '/rest/Projects?pad=' + 'x'.repeat(2000), headers: { 'accept-encoding': 'gzip' } })
  t.same([api.headers['content-encoding'], JSON.parse(gunzipSync(api.body).toString()).service], ['gzip', '8000'], 'REST answers compressed')
  const plain = await send(p.ports.http!, 'tator.example.org', { path: '/objects/x' })
  t.same([plain.status, plain.headers.location?.startsWith('https://tator.example.org')], [301, true], 'plain HTTP is redirected before any gate')
})
