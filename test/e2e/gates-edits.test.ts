import t from 'tap'
import http from 'node:http'
import { echoUpstream } from '../helpers/upstreams.js'
import { send, sendH2 } from '../helpers/http.js'
import { startPortico, tlsConfig } from '../helpers/portico.js'

/**
 * Issue 22, points 1-3 against the real binary: strip_prefix with an upstream base path (one
 * upstream and a pool), request_headers, client_allow/client_deny behind a trusted proxy — on
 * HTTP/1.1 and HTTP/2.
 */

interface Echo { method: string, url: string, headers: http.IncomingHttpHeaders }

/** A request from a chosen loopback source address (the client address the gates see). */
async function sendFrom (port: number, from: string, host: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, localAddress: from, headers: { host, ...headers }, agent: false }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')))
    req.end()
  })
}

t.test('path rewriting, request headers and client access lists', async t => {
  const a = await echoUpstream(t, '127.0.0.2', { 'x-upstream': 'a' })
  const b = await echoUpstream(t, '127.0.0.3', { 'x-upstream': 'b' })
  const p = await startPortico({
    config: tlsConfig(['minio.test', 'pool.test', 'hdr.test', 'acl.test', 'both.test', 'xff.test'], `
  - host: minio.test
    path: /objects
    strip_prefix: /objects
    proxy: { upstreams: ["${a.origin}/bucket"] }
  - host: pool.test
    strip_prefix: /objects
    proxy: { upstreams: ["${a.origin}/bucket/", "${b.origin}/bucket/"] }
  - host: hdr.test
    request_headers:
      set: { X-Real-IP: "{client_ip}", X-Seen: "{host} {method} {uri} {proto} {request_id}" }
      add: { X-Extra: [one, two] }
      remove: [cookie, x-secret]
    proxy: { upstreams: ["${a.origin}"] }
  - host: acl.test
    client_deny: [127.0.0.1]
    respond: { body: "acl ok" }
  - host: both.test
    client_allow: [127.0.0.0/8]
    client_deny: [127.0.0.6]
    respond: { body: "both ok" }
  - host: xff.test
    client_allow: [10.1.2.3]
    proxy: { upstreams: ["${a.origin}"] }
`, 'trusted_proxies: [127.0.0.1]')
  })
  t.teardown(() => p.stop('SIGKILL'))
  const http1 = p.ports.http!
  const h2 = p.ports.https!
  const echo = (body: string): Echo => JSON.parse(body) as Echo

  t.test('strip_prefix + base path, byte for byte', async t => {
    const raw = '/objects/a%2Fb/%7e%20c%25?x=1&y=%2F&z'
    const r = await send(http1, 'minio.test', { path: raw })
    t.equal(r.status, 200)
    t.equal(echo(r.body).url, '/bucket/a%2Fb/%7e%20c%25?x=1&y=%2F&z')
    t.equal(echo((await send(http1, 'minio.test', { path: '/objects?list' })).body).url, '/bucket/?list', 'the bare prefix becomes /')
    const viaH2 = await sendH2(h2, 'minio.test', { path: raw })
    t.same([viaH2.status, echo(viaH2.body).url], [200, '/bucket/a%2Fb/%7e%20c%25?x=1&y=%2F&z'], 'HTTP/2 the same')
    // Both pool members get the rewritten path (round robin over two requests).
    const seen = new Set<string>()
    for (let i = 0; i < 4; i++) {
      const r = await send(http1, 'pool.test', { path: `/objects/k${i}?v=%20` })
      t.equal(echo(r.body).url, `/bucket/k${i}?v=%20`)
      seen.add(r.headers['x-upstream'] as string)
    }
    t.same([...seen].sort(), ['a', 'b'], 'both pool members got rewritten paths')
  })

  t.test('request_headers: set, add, remove, placeholders; forwarding headers stay portico\'s', async t => {
    const r = await send(http1, 'hdr.test', { path: '/p?q=1', headers: { 'x-real-ip': '6.6.6.6', cookie: 'a=1', 'x-secret': 's', 'x-keep': 'k' } })
    const h = echo(r.body).headers
    t.equal(h['x-real-ip'], '127.0.0.1', 'set replaces the client\'s value')
    t.equal(h['x-seen'], `hdr.test GET /p?q=1 http ${h['x-request-id'] as string}`)
    t.equal(h['x-extra'], 'one, two')
    t.equal(h.cookie, undefined)
    t.equal(h['x-secret'], undefined)
    t.equal(h['x-keep'], 'k')
    t.equal(h['x-forwarded-for'], '127.0.0.1')
    const viaH2 = await sendH2(h2, 'hdr.test', { path: '/h2', headers: { cookie: ['a=1', 'b=2'], 'x-real-ip': 'forged' } })
    const h2h = echo(viaH2.body).headers
    t.same([h2h['x-real-ip'], h2h.cookie, h2h['x-extra']], ['127.0.0.1', undefined, 'one, two'], 'HTTP/2 the same')
    t.match(h2h['x-seen'], /^hdr\.test GET \/h2 https /)
  })

  t.test('client_allow / client_deny: 403 with the reason, deny wins', async t => {
    const denied = await send(http1, 'acl.test')
    t.equal(denied.status, 403)
    t.match(denied.body, /client address 127\.0\.0\.1 is denied \(client_deny\)/)
    t.same(await sendFrom(http1, '127.0.0.5', 'acl.test', '/'), { status: 200, body: 'acl ok' }, 'another client passes')
    t.equal((await sendFrom(http1, '127.0.0.5', 'both.test', '/')).status, 200, 'inside client_allow')
    const both = await sendFrom(http1, '127.0.0.6', 'both.test', '/')
    t.same([both.status, /denied \(client_deny\)/.test(both.body)], [403, true], 'in both lists: deny wins')
    const viaH2 = await sendH2(h2, 'acl.test')
    t.same([viaH2.status, /is denied/.test(viaH2.body)], [403, true], 'HTTP/2 the same')
  })

  t.test('the client behind a trusted proxy is the X-Forwarded-For hop; an untrusted peer\'s X-Forwarded-For is ignored', async t => {
    t.equal((await send(http1, 'xff.test', { headers: { 'x-forwarded-for': '10.1.2.3' } })).status, 200, 'trusted peer 127.0.0.1 vouches for 10.1.2.3')
    const other = await send(http1, 'xff.test', { headers: { 'x-forwarded-for': '10.9.9.9' } })
    t.same([other.status, /10\.9\.9\.9 is not allowed/.test(other.body)], [403, true])
    const spoofed = await sendFrom(http1, '127.0.0.5', 'xff.test', '/', { 'x-forwarded-for': '10.1.2.3' })
    t.same([spoofed.status, /127\.0\.0\.5 is not allowed/.test(spoofed.body)], [403, true], 'untrusted peer: its own address counts')
  })
})
