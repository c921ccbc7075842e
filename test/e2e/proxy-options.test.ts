import t from 'tap'
import http from 'node:http'
import https from 'node:https'
import { send } from '../helpers/http.js'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ensureSelfSigned } from '../../src/tls/index.js'
import { freePort, makeTempDir, startPortico, testConfig, tlsConfig } from '../helpers/portico.js'
import { httpUpstream, serve } from '../helpers/upstreams.js'

t.test('HTTPS upstreams: UAP verify off by default, proxy verify on by default', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const cert = await ensureSelfSigned(join(dir, 'up'), ['instance.test'])
  const upstream = https.createServer({ cert: await readFile(cert.certFile), key: await readFile(cert.keyFile) }, (req, res) => res.end(`secure:${req.headers.host}`))
  const { port } = await serve(t, upstream)
  const p = await startPortico({
    dir,
    config: testConfig({
      access: true,
      routes: `
  - uap: { domain: uap.test, allow: [127.0.0.0/8] }
  - host: verified.test
    proxy: { upstreams: ["https://127.0.0.2:${port}"] }
  - host: ca.test
    proxy: { upstreams: ["https://127.0.0.2:${port}"], tls: { ca_file: ${cert.certFile}, server_name: instance.test } }`
    })
  })
  t.teardown(() => p.stop('SIGKILL'))
  const uap = await send(p.ports.http!, `127-0-0-2-${port}.uap.test`)
  t.same([uap.status, uap.body], [200, `secure:127-0-0-2-${port}.uap.test`], 'default scheme https, self-signed accepted')
  const verified = await send(p.ports.http!, 'verified.test')
  t.equal(verified.status, 502, 'self-signed upstream refused when verification is on')
  const ca = await send(p.ports.http!, 'ca.test')
  t.same([ca.status, ca.body], [200, 'secure:ca.test'], 'verified against ca_file')
})

t.test('IPv6 targets, Via, HSTS and https_redirect', async t => {
  const seen: http.IncomingHttpHeaders[] = []
  const { port } = await httpUpstream(t, (req, res) => {
    seen.push(req.headers)
    let n = 0
    req.on('data', (d: Buffer) => { n += d.length })
    req.on('end', () => res.end(`got ${n} via ${req.socket.localAddress}`))
  }, '::1')
  // A fixed port for the TLS listener: redirects name it, so it cannot be port 0.
  const httpsPort = await freePort()
  const p = await startPortico({
    config: tlsConfig(['v6.test'], `
  - host: '~^v6-(?<port>[0-9]+)\\.test$'
    hsts: max-age=63072000
    https_redirect: true
    proxy: { upstreams: ["http://[::1]:{port}"], allow: ["::1/128"], ports: ["${port}"] }
  - host: '~^v6bad-(?<port>[0-9]+)\\.test$'
    proxy: { upstreams: ["http://127.0.0.1:{port}"], allow: ["::1/128"] }`, 'via: true', httpsPort)
  })
  t.teardown(() => p.stop('SIGKILL'))
  const https = p.ports.https!
  const ok = await send(https, `v6-${port}.test`, { tls: true, headers: { via: '1.0 lb' } })
  t.same([ok.status, ok.body], [200, 'got 0 via ::1'], 'templated IPv6 target inside the IPv6 allowlist')
  t.equal(ok.headers['strict-transport-security'], 'max-age=63072000', 'HSTS on TLS')
  t.equal(seen[0]?.via, '1.0 lb, 1.1 portico')
  t.equal(seen[0]?.['x-forwarded-proto'], 'https')
  const redirect = await send(p.ports.http!, `v6-${port}.test`, { path: '/a?b=1' })
  t.equal(redirect.status, 301)
  t.equal(redirect.headers.location, `https://v6-${port}.test:${https}/a?b=1`)
  t.equal(redirect.headers['strict-transport-security'], undefined, 'no HSTS on plain HTTP')
  const acme = await send(p.ports.http!, `v6-${port}.test`, { path: '/.well-known/acme-challenge/tok' })
  t.equal(acme.status, 200, 'ACME challenge path is not redirected')
  t.equal((await send(https, `v6-${port + 1}.test`, { tls: true })).status, 403, 'port outside the ranges')
  t.equal((await send(p.ports.http!, `v6bad-${port}.test`)).status, 403, 'IPv4 target outside an IPv6-only allowlist')
  // Body limits (413) are router behaviour: test/unit/router-inject.test.ts, to an IPv6 literal upstream too.
})

t.test('a reload that adds a listener keeps existing connections', async t => {
  const cfg = (extraPort?: number): string => testConfig({
    access: true,
    listeners: ['http', ...extraPort === undefined ? [] : [{ name: 'extra', port: extraPort }]],
    routes: '  - { host: "*", respond: { body: ok } }'
  })
  const p = await startPortico({ config: cfg() })
  t.teardown(() => p.stop('SIGKILL'))
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  let sockets = 0
  agent.on('free', () => {})
  const first = await send(p.ports.http!, 'a.test', { agent })
  t.equal(first.status, 200)
  const socket = Object.values(agent.freeSockets)[0]?.[0]
  t.ok(socket, 'a keep-alive socket is pooled')
  socket?.once('close', () => { sockets++ })
  const spare = await freePort()
  const from = p.logs.length
  const tmp = join(p.dir, 'n.yaml')
  await writeFile(tmp, cfg(spare).replaceAll('${STATE}', join(p.dir, 'state')))
  await rename(tmp, p.configFile)
  await p.waitForLog(l => l.msg === 'config reloaded', 8000, from)
  t.equal((await send(spare, 'a.test')).status, 200, 'new listener serves')
  const again = await send(p.ports.http!, 'a.test', { agent })
  t.equal(again.status, 200)
  t.equal(sockets, 0, 'the keep-alive connection on the unchanged listener was not closed')
})
