import t from 'tap'
import net from 'node:net'
import { join } from 'node:path'
import { ensureSelfSigned } from '../../src/tls/index.js'
import { makeTempDir, plainAndTlsConfig, startPortico, type LogLine } from '../helpers/portico.js'
import { send, sendH2 } from '../helpers/http.js'
import { httpUpstream, serve } from '../helpers/upstreams.js'
import { rawExchange } from '../helpers/raw-socket.js'

/**
 * Issue 17 points 2 and 8: the HTTP and the upgrade path open requests the same way (a repeated
 * Host is a 400 on both, status lines carry their own reason phrase), the access log counts
 * the request body bytes actually read for chunked and HTTP/2 uploads, and an https redirect
 * names the port the TLS listener is bound to.
 */
t.test('one request-opening path; request bytes of streamed uploads', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const app = await httpUpstream(t, (req, res) => { req.resume(); req.on('end', () => res.end('ok')) })
  // Accepts and reads, never answers: the headers timeout fires.
  const mute = await serve(t, net.createServer(s => { s.on('error', () => {}); s.resume() }), '127.0.0.3')
  const cert = await ensureSelfSigned(join(dir, 'edge'), ['app.test', 'redir.test'])
  const p = await startPortico({
    dir,
    config: plainAndTlsConfig(cert, `
  - name: app
    host: app.test
    proxy: { upstreams: ["${app.origin}"] }
  - name: secure-only
    host: redir.test
    https_redirect: true
    respond: { body: secure }
  - name: mute
    host: mute.test
    proxy: { upstreams: ["${mute.origin}"], timeouts: { headers: 300ms } }
`)
  })
  t.teardown(() => p.stop('SIGKILL'))
  const upgrade = (hostLines: string): string =>
    `GET /ws HTTP/1.1\r\n${hostLines}connection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`

  const twice = await rawExchange(p.ports.plain!, upgrade('host: app.test\r\nhost: other.test\r\n'), 3000)
  t.match(twice.text, /^HTTP\/1\.1 400 Bad Request\r\n/, 'a repeated Host on an upgrade is a 400, as on the HTTP path')
  const slow = await rawExchange(p.ports.plain!, upgrade('host: mute.test\r\n'), 5000)
  t.match(slow.text, /^HTTP\/1\.1 504 Gateway Timeout\r\n/, 'a 504 says Gateway Timeout')

  const bytesInOf = async (path: string): Promise<number | undefined> => {
    const line = await p.waitForLog(l => (l.access as { path?: string } | undefined)?.path === path, 5000)
    return (line as LogLine & { access: { bytesIn: number } }).access.bytesIn
  }
  const pieces = Array.from({ length: 20 }, (_, i) => Buffer.alloc(16 * 1024 + i, 97))
  const total = pieces.reduce((n, b) => n + b.length, 0)
  t.equal((await send(p.ports.plain!, 'app.test', { method: 'POST', path: '/chunked', body: pieces })).status, 200)
  t.equal(await bytesInOf('/chunked'), total, 'chunked upload: the body bytes read')
  t.equal((await sendH2(p.ports.tls!, 'app.test', { method: 'POST', path: '/h2', body: Buffer.concat(pieces) })).status, 200)
  t.equal(await bytesInOf('/h2'), total, 'HTTP/2 upload without content-length: the body bytes read')
  const redirect = await send(p.ports.plain!, 'redir.test', { path: '/x?y' })
  t.same([redirect.status, redirect.headers.location], [301, `https://redir.test:${p.ports.tls}/x?y`], 'the redirect names the bound TLS port, not 0')
  const one = Buffer.alloc(1000, 98)
  t.equal((await send(p.ports.plain!, 'app.test', { method: 'PUT', path: '/cl', body: one, headers: { 'content-length': '1000' } })).status, 200)
  t.equal(await bytesInOf('/cl'), 1000, 'Content-Length upload')
})
