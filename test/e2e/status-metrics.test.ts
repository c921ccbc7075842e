import t from 'tap'
import { once } from 'node:events'
import { mkdir, copyFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { WebSocket } from 'ws'
import { freePort, startPortico, testConfig } from '../helpers/portico.js'
import { wsUpstream } from '../helpers/upstreams.js'
import { send } from '../helpers/http.js'
import { launchBrowser } from '../helpers/browser.js'
import { requires } from '../helpers/required.js'

const ROOT = resolve(import.meta.dirname, '../..')

t.test('Prometheus metrics and the status page (in Chromium)', requires('command:chromium'), async t => {
  const app = await wsUpstream(t, ws => ws.on('message', m => ws.send(m)), '127.0.0.2', (_req, res) => res.end('app'))
  const dead = await freePort('127.0.0.3')
  const p = await startPortico({
    config: testConfig({
      admin: true,
      listeners: ['http', { name: 'https', tls: true }],
      selfSigned: ['status.test'],
      routes: `
  - { name: app, host: app.test, proxy: { upstreams: ["${app.origin}"] } }
  - { name: broken, host: broken.test, proxy: { upstreams: ["http://127.0.0.3:${dead}"] } }
  - { name: hello, host: hello.test, respond: { body: hi } }`
    })
  })
  t.teardown(() => p.stop('SIGKILL'))
  for (let i = 0; i < 3; i++) t.equal((await send(p.ports.http!, 'app.test')).status, 200)
  t.equal((await send(p.ports.http!, 'app.test', { method: 'POST', body: Buffer.alloc(1000, 1) })).status, 200)
  t.equal((await send(p.ports.http!, 'broken.test')).status, 502)
  t.equal((await send(p.ports.http!, 'nowhere.test')).status, 404)
  const ws = new WebSocket(`ws://127.0.0.1:${p.ports.http}/`, { headers: { host: 'app.test' } })
  await once(ws, 'open')
  await fetch(`${p.adminUrl}/reload`, { method: 'POST', headers: { 'x-portico-admin': '1' } })

  const metrics = await (await fetch(`${p.adminUrl}/metrics`)).text()
  t.match(metrics, /portico_requests_total\{route="app",code="200",class="2xx"\} 4/, 'the exact status and its class')
  t.match(metrics, /portico_requests_total\{route="broken",code="502",class="5xx"\} 1/)
  t.match(metrics, /portico_requests_total\{route="\(none\)",code="404",class="4xx"\} 1/)
  t.match(metrics, /portico_upstream_errors_total\{route="broken",kind="error"\} 1/)
  t.match(metrics, /portico_request_duration_seconds_bucket\{le="[\d.]+",route="app"\} \d/)
  t.match(metrics, /portico_websockets_active 1/)
  t.match(metrics, /portico_request_bytes_total\{route="app"\} 1000/, 'the POST body')
  t.match(metrics, /portico_response_bytes_total\{route="app"\} 12/, 'four 3-byte bodies')
  t.match(metrics, /portico_connections_active [1-9]/)
  t.match(metrics, /portico_config_reloads_total\{result="ok"\} 1/)
  t.match(metrics, /portico_certificate_not_after_timestamp_seconds\{name="status\.test"\} \d{10}/, 'timestamps are *_timestamp_seconds')
  t.notMatch(metrics, /portico_docker_/, 'no Docker gauges without Docker')
  t.match(metrics, /portico_config_stale 0/)
  t.match(metrics, /portico_process_resident_memory_bytes \d+/)
  ws.close()
  await once(ws, 'close')

  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
  await page.goto(`${p.adminUrl}/`)
  t.equal(await page.title(), 'portico status')
  t.match(await page.textContent('#routes') ?? '', /app\s*proxy\s*5/)
  t.match(await page.textContent('#certificates') ?? '', /status\.test/)
  t.match(await page.textContent('#errors') ?? '', /broken\.test\/\s*502\s*upstream refused the connection/)
  t.match(await page.textContent('#last-reload') ?? '', /ok/)
  t.match(await page.textContent('#docker') ?? '', /Docker not configured/)
  await mkdir(resolve(ROOT, 'test-artifacts'), { recursive: true })
  const shot = resolve(ROOT, 'test-artifacts/status-page.png')
  await page.screenshot({ path: shot, fullPage: true })
  t.pass(`screenshot: ${shot}`)
  if (process.env.PORTICO_UPDATE_DOCS === '1') await copyFile(shot, resolve(ROOT, 'docs/status-page.png'))
})

t.test('admin on a non-loopback address needs a token', async t => {
  const p = await startPortico({
    expectReady: false,
    config: testConfig({ admin: { address: '0.0.0.0:0' } })
  })
  t.equal((await p.exited).code, 1)
  t.match(p.stderr.join("\n"), /admin\.address: an admin listener beyond loopback needs admin\.token_file/)
})

t.test('access log to a file, reopened on SIGUSR1 (logrotate)', async t => {
  const p = await startPortico({ config: testConfig({ access: true, log: 'access_file: access.log', routes: '  - { host: "*", respond: { body: ok } }' }) })
  t.teardown(() => p.stop('SIGKILL'))
  const file = resolve(p.dir, 'access.log')
  await send(p.ports.http!, 'one.test', { path: '/first' })
  const { readFile, rename } = await import('node:fs/promises')
  const until = async (f: string, re: RegExp): Promise<string> => {
    for (let i = 0; i < 100; i++) {
      const text = await readFile(f, 'utf8').catch(() => '')
      if (re.test(text)) return text
      await new Promise(r => setTimeout(r, 50))
    }
    throw new Error(`${f} never matched ${re}`)
  }
  t.match(await until(file, /"path":"\/first"/), /"host":"one\.test"/)
  t.notOk(p.logs.some(l => l.msg === 'request'), 'access lines are not on stdout')
  await rename(file, `${file}.1`)
  p.child.kill('SIGUSR1')
  await p.waitForLog(l => l.msg === 'access log reopened')
  await send(p.ports.http!, 'two.test', { path: '/second' })
  const fresh = await until(file, /"path":"\/second"/)
  t.notMatch(fresh, /\/first/, 'a new file after the reopen')
  t.match(await readFile(`${file}.1`, 'utf8'), /\/first/, 'the rotated file keeps the old lines')
})

t.test('admin bearer token', async t => {
  const { writeFile } = await import('node:fs/promises')
  const config = testConfig({ admin: { tokenFile: 'token' }, access: true })
  const p0 = await startPortico({ config, expectReady: false })
  // The token file does not exist yet: startup fails with a clear error.
  t.equal((await p0.exited).code, 1)
  await writeFile(resolve(p0.dir, 'token'), 's3cret\n')
  const p = await startPortico({ dir: p0.dir, config })
  t.teardown(() => p.stop('SIGKILL'))
  t.equal((await fetch(`${p.adminUrl}/readyz`)).status, 401, 'no token: 401')
  t.equal((await fetch(`${p.adminUrl}/readyz`, { headers: { authorization: 'Bearer wrong' } })).status, 401)
  t.equal((await fetch(`${p.adminUrl}/readyz`, { headers: { authorization: 'Bearer s3cret' } })).status, 200, 'right token: 200')
})
