import t, { type Test } from 'tap'
import http from 'node:http'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CLI, freePort, makeTempDir, startPortico, testConfig } from '../helpers/portico.js'
import { httpUpstream } from '../helpers/upstreams.js'
import { send } from '../helpers/http.js'

/** An upstream that answers 201 "made" after 30 ms (so the upstream time is measurable). */
async function upstream (t: Test): Promise<number> {
  return (await httpUpstream(t, (_req, res) => { setTimeout(() => { res.writeHead(201); res.end('made') }, 30) })).port
}

const config = (port: number, log = ''): string => testConfig({
  access: true,
  log: log === '' ? undefined : log,
  extra: 'trusted_proxies: [127.0.0.3/32]',
  listeners: ['http', { name: 'https', tls: true }],
  selfSigned: ['app.test'],
  routes: `  - { name: app, host: app.test, proxy: { upstreams: ["http://127.0.0.2:${port}"] } }`
})

t.test('JSON access entries: client, protocol, user agent, referer, SNI, upstream status and time, error body bytes', async t => {
  const port = await upstream(t)
  const p = await startPortico({ config: config(port) })
  t.teardown(() => p.stop('SIGKILL'))
  await send(p.ports.https!, 'app.test', { tls: true, path: '/x', headers: { 'user-agent': 'probe/1.0', referer: 'https://from.test/' } })
  const missing = await send(p.ports.http!, 'nowhere.test', { path: '/gone' })
  const entry = async (path: string): Promise<Record<string, unknown>> => (await p.waitForLog(l => (l.access as { path?: string } | undefined)?.path === path)).access as Record<string, unknown>
  const ok = await entry('/x')
  t.match(ok, { client: '127.0.0.1', proto: 'HTTP/1.1', ua: 'probe/1.0', referer: 'https://from.test/', sni: 'app.test', status: 201, upstreamStatus: 201, bytes: 4 })
  t.ok(typeof ok.upstreamMs === 'number' && ok.upstreamMs >= 25, `upstream time to headers: ${String(ok.upstreamMs)} ms`)
  const gone = await entry('/gone')
  t.equal(gone.status, 404)
  t.equal(gone.bytes, Buffer.byteLength(missing.body), 'bytes counts portico\'s own error body')
  t.ok(missing.body.length > 0)
})

t.test('combined format (nginx/Apache) in the access file; the client behind a trusted proxy', async t => {
  const port = await upstream(t)
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const file = join(dir, 'access.log')
  const p = await startPortico({ dir, config: config(port, `access_format: combined, access_file: ${file}`) })
  t.teardown(() => p.stop('SIGKILL'))
  await send(p.ports.http!, 'app.test', { path: '/a?b=1', headers: { 'user-agent': 'say "hi"', referer: 'https://r.test/' } })
  // From the trusted proxy 127.0.0.3, which names the client in X-Forwarded-For.
  await new Promise<void>((resolve, reject) => {
    http.get({ host: '127.0.0.1', localAddress: '127.0.0.3', port: p.ports.http, path: '/b', headers: { host: 'app.test', 'x-forwarded-for': '198.51.100.7, 127.0.0.3' } }, res => { res.resume(); res.on('end', resolve) }).on('error', reject)
  })
  let text = ''
  for (let i = 0; i < 100 && text.split('\n').length < 3; i++) { await new Promise(resolve => setTimeout(resolve, 50)); text = await readFile(file, 'utf8').catch(() => '') }
  const [a, b] = text.trim().split('\n')
  t.match(a, /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET \/a\?b=1 HTTP\/1\.1" 201 4 "https:\/\/r\.test\/" "say \\x22hi\\x22"$/)
  t.match(b, /^198\.51\.100\.7 - - \[.*\] "GET \/b HTTP\/1\.1" 201 4 "-" "-"$/, 'the client from X-Forwarded-For, as the trusted proxy reported it')
})

t.test('console output: readable lines when asked, and by default on a terminal', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const readable = /^\d{2}:\d{2}:\d{2}\.\d{3} INFO +portico ready generation=\d+ listeners=/m
  // Each run gets its own config and port: a daemon still exiting under `script` must not make the next one fail to bind.
  let runs = 0
  const configFile = async (): Promise<string> => {
    const file = join(dir, `portico-${++runs}.yaml`)
    const listeners = [{ name: 'http', port: await freePort() }]
    await writeFile(file, testConfig({ stateDir: join(dir, `state-${runs}`), access: true, listeners, routes: '  - { host: "*", respond: { body: hi } }' }))
    return file
  }
  const run = async (cmd: string, args: string[]): Promise<string> => {
    // Own process group, so `script`'s grandchild is stopped too; the exit promise exists before any early exit.
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    const exited = once(child, 'exit')
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    for (let i = 0; i < 200 && !readable.test(out) && !out.includes('"portico ready"') && child.exitCode === null; i++) {
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    try { process.kill(-child.pid!, 'SIGTERM') } catch { /* already gone */ }
    await exited
    return out
  }
  t.match(await run(process.execPath, [CLI, 'run', '--config', await configFile(), '--log-format', 'console']), readable, '--log-format console')
  // `script` gives the child a pseudo-terminal: auto picks the console encoder there.
  t.match(await run('script', ['-qfec', `${process.execPath} ${CLI} run --config ${await configFile()}`, '/dev/null']), readable, 'auto on a terminal')
  t.match(await run(process.execPath, [CLI, 'run', '--config', await configFile()]), /^\{"level":30,.*"msg":"portico ready"/m, 'auto on a pipe: JSON')
})
