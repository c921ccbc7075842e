import t from 'tap'
import { writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { makeTempDir, runCli } from '../helpers/portico.js'

const ROOT = resolve(import.meta.dirname, '../..')

t.test('check: ok and exact positions', async t => {
  const demo = await runCli(['check', '--config', join(ROOT, 'config/portico.yaml')])
  t.equal(demo.stdout, 'ok\n')
  t.equal(demo.code, 0)
  // The examples name certificates and secrets of a real host: check reads them, as run would.
  for (const f of ['config/examples/exosphere-uap.yaml', 'config/examples/exosphere-ccp.yaml', 'config/examples/hosted-appliances.yaml']) {
    const r = await runCli(['check', '--config', join(ROOT, f)], 60_000)
    t.equal(r.code, 1, f)
    t.ok(r.stderr.trim().split('\n').every(l => / cannot read \/etc\/[^ ]+: ENOENT$/.test(l)), `only the host's files are missing: ${r.stderr}`)
  }
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const file = join(dir, 'bad.yaml')
  await writeFile(file, 'listeners:\n  - name: http\n    address: 127.0.0.1:8080\nroutes:\n  - host: a.example.org\n    proxy:\n      upstreams: [ftp://x]\n      retries: 9\n')
  const r = await runCli(['check', '--config', file])
  t.equal(r.code, 1)
  t.equal(r.stdout, '')
  t.same(r.stderr.trim().split('\n'), [
    `${file}:7:19: routes[0].proxy.upstreams[0]: expected an http:// or https:// URL`,
    `${file}:8:16: routes[0].proxy.retries: Too big: expected number to be <=5`
  ])
  const missing = await runCli(['check', '--config', join(dir, 'nope.yaml')])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /nope\.yaml:1:1: cannot read config/)
})

t.test('explain: one JSON line per target, no listeners, no certificate reads', async t => {
  // The example names certificate files that do not exist here: explain must not read them.
  const r = await runCli(['explain', '--config', join(ROOT, 'config/examples/exosphere-uap.yaml'),
    'http-198-51-100-99-8888.uap.example.org', '198-51-100-99-443.uap.example.org/lab?x=1', '10-0-0-1-22.uap.example.org',
    '999-1-1-1-80.uap.example.org', 'example.com', 'bad\u0001host'])
  t.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
  t.equal(lines.length, 6)
  t.match(lines[0], { host: 'http-198-51-100-99-8888.uap.example.org', route: 'uap', action: 'proxy', target: 'http://198.51.100.99:8888' })
  t.match(lines[1], { action: 'proxy', target: 'https://198.51.100.99:443', path: '/lab?x=1' })
  t.match(lines[2], { action: 'deny', target: null, status: 403, reason: /outside the allowed networks/ })
  t.match(lines[3], { action: 'deny', target: null, reason: /not a valid UAP name/ })
  t.match(lines[4], { action: 'none', route: null, target: null })
  t.match(lines[5], { action: 'deny', status: 400 })
  const plain = await runCli(['explain', '--plain-http', '--config', join(ROOT, 'config/examples/exosphere-uap.yaml'), 'http-198-51-100-99-8888.uap.example.org'])
  t.match(JSON.parse(plain.stdout), { action: 'redirect', target: null, location: 'https://http-198-51-100-99-8888.uap.example.org/' })
})

t.test('explain: the CCP example', async t => {
  const r = await runCli(['explain', '--config', join(ROOT, 'config/examples/exosphere-ccp.yaml'), 'ccp.example.org/proxy/v3', 'ccp.example.org/proxy', 'ccp.example.org/proxyx', 'ccp.example.org/'])
  const [v3, bare, other, root] = r.stdout.trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
  t.match(v3, { host: 'ccp.example.org', path: '/proxy/v3', route: 'ccp', action: 'cors-proxy', target: null })
  t.match(bare, { action: 'cors-proxy' })
  t.match(other, { action: 'none' }, 'the prefix ends at a segment')
  t.match(root, { action: 'none' })
})

t.test('explain: the gates a target passes (the Tator example: forward_auth on the admin UIs)', async t => {
  const tator = join(ROOT, 'config/examples/tator-edge.yaml')
  const [argo, objects] = (await runCli(['explain', '--config', tator, 'tator.example.org/argo/', 'tator.example.org/objects/x']))
    .stdout.trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
  t.same(argo?.gates, ['forward_auth', 'strip_prefix'])
  t.same(objects?.gates, ['request_headers', 'strip_prefix'])
  const plain = await runCli(['explain', '--plain-http', '--config', tator, 'tator.example.org/argo/'])
  t.match(JSON.parse(plain.stdout), { action: 'redirect', gates: [] }, 'none before the redirect to HTTPS')
})

t.test('version and help', async t => {
  const v = await runCli(['version'])
  t.match(v.stdout, /^portico \d+\.\d+\.\d+ \(node v2[2-9]/)
  for (const cmd of ['run', 'check', 'explain', 'version']) {
    const h = await runCli([cmd, '--help'])
    t.equal(h.code, 0)
    t.match(h.stdout, new RegExp(`Usage: portico ${cmd}`))
  }
  t.match((await runCli(['--help'])).stdout, /Commands:/)
  t.equal((await runCli(['check', '--bogus'])).code, 2)
})

t.test('CLI edges: --version, a mistyped command, explain with URLs, 404s and unknown listeners', async t => {
  const v = await runCli(['--version'])
  t.equal(v.code, 0, '--version exits 0')
  t.match(v.stdout, /^portico \d+\.\d+\.\d+ /)
  const typo = await runCli(['chek', '--config', join(ROOT, 'config/portico.yaml')], 60_000)
  t.equal(typo.code, 2, 'a mistyped command does not start the daemon')
  t.match(typo.stderr, /unknown command "chek" \(did you mean check\?\)/)
  const uap = join(ROOT, 'config/examples/exosphere-uap.yaml')
  const [url, plain, none] = (await runCli(['explain', '--config', uap, 'https://198-51-100-99-443.uap.example.org/lab?x=1', 'http://198-51-100-99-443.uap.example.org/x', 'example.com']))
    .stdout.trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
  t.match(url, { host: '198-51-100-99-443.uap.example.org', path: '/lab?x=1', action: 'proxy', target: 'https://198.51.100.99:443' }, 'a URL is taken apart, not read as host "https:"')
  t.match(plain, { action: 'redirect', location: 'https://198-51-100-99-443.uap.example.org/x' }, 'an http:// URL decides as plain HTTP')
  t.match(none, { action: 'none', status: 404 }, 'no route: status 404, not null')
  const listener = await runCli(['explain', '--config', uap, '--listener', 'htps', 'example.com'])
  t.equal(listener.code, 2)
  t.match(listener.stderr, /no listener named "htps" \(did you mean https\?\)/)
})
