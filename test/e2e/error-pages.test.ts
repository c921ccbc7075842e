import t, { type Test } from 'tap'
import http from 'node:http'
import { once } from 'node:events'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { freePort, httpConfig, makeTempDir, runCli, startPortico, type Portico } from '../helpers/portico.js'
import { fetchBytes } from '../helpers/fetch-bytes.js'

const MAINTENANCE = '<!doctype html><h1>Back soon: upgrading</h1>\n'.repeat(40)

/** Answers /status/N with that status, its own body and a Retry-After. */
async function statusUpstream (): Promise<{ port: number, close: () => void }> {
  const server = http.createServer((req, res) => {
    const status = Number(/\/status\/(\d+)/.exec(req.url ?? '')?.[1] ?? 200)
    res.writeHead(status, { 'content-type': 'text/plain', 'retry-after': '120', 'x-upstream': 'yes' })
    res.end(`upstream says ${status}`)
  })
  server.listen(0, '127.0.0.5')
  await once(server, 'listening')
  return { port: (server.address() as { port: number }).port, close: () => server.close() }
}

function routes (up: number, dead: number, site: string): string {
  return `
  - host: maint.test
    compress: {}
    error_pages:
      - { status: [502, 503, 504], file: maintenance.html, upstream: true }
    proxy: { upstreams: ["http://127.0.0.5:${up}"] }
  - host: down.test
    error_pages:
      - { status: "5xx", file: maintenance.html }
    proxy: { upstreams: ["http://127.0.0.5:${dead}"], retries: 0 }
  - host: own-only.test
    error_pages:
      - { status: "5xx", body: "portico's own 5xx page", content_type: text/plain }
    proxy: { upstreams: ["http://127.0.0.5:${up}"] }
  - host: files.test
    error_pages:
      - { status: 404, body: "<h1>custom 404</h1>" }
      - { status: "4xx", body: "generic 4xx", content_type: text/plain }
    static: { root: ${site} }
  - host: '~^deny-(?<port>[0-9]+)\\.test$'
    error_pages:
      - { status: "4xx", body: "generic 4xx", content_type: text/plain }
    proxy: { upstreams: ["http://127.0.0.5:{port}"], allow: [10.0.0.0/8] }`
}

/** A temp dir with the maintenance page, the status upstream and portico on the routes above. */
async function setup (t: Test): Promise<{ dir: string, up: { port: number }, good: string, p: Portico }> {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  await writeFile(join(dir, 'maintenance.html'), MAINTENANCE)
  const up = await statusUpstream()
  t.teardown(up.close)
  const good = httpConfig(routes(up.port, await freePort('127.0.0.5'), dir))
  const p = await startPortico({ dir, config: good })
  t.teardown(() => p.stop('SIGKILL'))
  return { dir, up, good, p }
}

t.test('error_pages: portico\'s own errors, the upstream\'s with upstream: true, exact before class', async t => {
  const { up, p } = await setup(t)
  const get = async (host: string, path = '/', headers: Record<string, string> = {}): ReturnType<typeof fetchBytes> =>
    await fetchBytes(p.ports.http!, host, { path, headers })

  const replaced = await get('maint.test', '/status/503')
  t.same([replaced.status, replaced.body.toString(), replaced.headers['content-type']], [503, MAINTENANCE, 'text/html; charset=utf-8'], 'upstream 503 → the maintenance page')
  t.same([replaced.headers['retry-after'], replaced.headers['x-upstream'], replaced.headers['cache-control']], ['120', undefined, 'no-store'], 'Retry-After kept, the rest dropped')
  t.match(replaced.headers['x-request-id'], /.+/)
  const gz = await get('maint.test', '/status/502', { 'accept-encoding': 'gzip' })
  t.same([gz.status, gz.headers['content-encoding'], gunzipSync(gz.body).toString()], [502, 'gzip', MAINTENANCE], 'the page is compressed like any answer of the route')
  const passed = await get('maint.test', '/status/500')
  t.same([passed.status, passed.body.toString()], [500, 'upstream says 500'], 'a status without a page passes')
  const ok = await get('maint.test', '/status/200')
  t.same([ok.status, ok.body.toString()], [200, 'upstream says 200'])

  const down = await get('down.test')
  t.same([down.status, down.body.toString()], [502, MAINTENANCE], 'upstream down: portico\'s 502 with the page')
  const own = await get('own-only.test', '/status/503')
  t.same([own.status, own.body.toString()], [503, 'upstream says 503'], 'without upstream: true the upstream\'s answer passes')

  const missing = await get('files.test', '/nope')
  t.same([missing.status, missing.body.toString(), missing.headers['content-type']], [404, '<h1>custom 404</h1>', 'text/html; charset=utf-8'], 'an exact status wins')
  const denied = await get(`deny-${up.port}.test`)
  t.same([denied.status, denied.body.toString(), denied.headers['content-type']], [403, 'generic 4xx', 'text/plain'], 'a class')
})

t.test('error_pages files: check and reload report FILE:LINE:COL; a bad reload keeps the old pages', async t => {
  const { dir, good, p } = await setup(t)
  const bad = good.replace('file: maintenance.html, upstream: true', 'file: gone.html, upstream: true')
    .replace(`static: { root: ${dir} }`, `static: { root: ${join(dir, 'no-such-dir')} }`)
  const badFile = join(dir, 'bad.yaml')
  await writeFile(badFile, bad)
  const check = await runCli(['check', '--config', badFile])
  t.equal(check.code, 1)
  const lines = check.stderr.trim().split('\n')
  const lineOf = (needle: string): number => bad.split('\n').findIndex(l => l.includes(needle)) + 1
  t.match(lines[0], new RegExp(`^${badFile}:${lineOf('gone.html')}:\\d+: routes\\[0\\]\\.error_pages\\[0\\]\\.file: cannot read .*gone\\.html: ENOENT$`))
  t.match(lines[1], new RegExp(`^${badFile}:${lineOf('no-such-dir')}:\\d+: routes\\[3\\]\\.static\\.root: cannot read .*no-such-dir: ENOENT$`))
  t.equal(lines.length, 2)
  const both = bad.replace('body: "<h1>custom 404</h1>"', 'body: x, file: y.html')
  await writeFile(badFile, both)
  t.match((await runCli(['check', '--config', badFile])).stderr, /routes\[3\]\.error_pages\[0\]: an error page needs exactly one of body or file/)

  const from = p.logs.length
  await writeFile(p.configFile, bad)
  p.child.kill('SIGHUP')
  await p.waitForLog(l => l.msg === 'config reload failed; still serving the previous config', 10_000, from)
  const still = await fetchBytes(p.ports.http!, 'maint.test', { path: '/status/503' })
  t.same([still.status, still.body.toString()], [503, MAINTENANCE], 'the running snapshot keeps its page')
  // The page is bytes in the snapshot: deleting the file changes nothing until a reload.
  await rm(join(dir, 'maintenance.html'))
  t.equal((await fetchBytes(p.ports.http!, 'maint.test', { path: '/status/503' })).body.toString(), MAINTENANCE)
})
