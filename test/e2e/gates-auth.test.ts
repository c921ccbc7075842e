import t, { type Test } from 'tap'
import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import { spawn } from 'node:child_process'
import bcrypt from 'bcryptjs'
import { echoUpstream } from '../helpers/upstreams.js'
import { send, sendH2 } from '../helpers/http.js'
import { CLI, freePort, startPortico, tlsConfig } from '../helpers/portico.js'

/**
 * Issue 22, points 4-5 against the real binary: basic_auth (hash from `portico hash-password`)
 * and forward_auth against a real loopback auth service — the auth matrix (allow, 401, 403,
 * 302 login redirect, slow → 504, down → 502, copied headers, method and URI passed), on
 * HTTP/1.1, HTTP/2 and a websocket upgrade.
 */

interface Echo { method: string, url: string, headers: http.IncomingHttpHeaders }
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

async function hashPassword (password: string): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'hash-password', '--cost', '4'], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  child.stdin.end(`${password}\n`)
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  const [code] = await once(child, 'exit') as [number | null]
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** The auth service: decides by the original URI it is told (X-Forwarded-Uri); records what it saw. */
async function authService (t: Test): Promise<{ origin: string, seen: http.IncomingHttpHeaders[], methods: string[] }> {
  const seen: http.IncomingHttpHeaders[] = []
  const methods: string[] = []
  const server = http.createServer((req, res) => {
    seen.push(req.headers)
    methods.push(req.method ?? '')
    const uri = String(req.headers['x-forwarded-uri'] ?? '')
    if (uri.startsWith('/slow')) return // never answers: portico's timeout must
    if (uri.startsWith('/allow') || (uri.startsWith('/cookie') && req.headers.cookie === 'session=good')) {
      res.writeHead(200, { 'x-auth-user': 'alice', 'x-auth-groups': 'admins', 'x-not-copied': 'no' })
      res.end('ignored body')
    } else if (uri.startsWith('/login')) {
      res.writeHead(302, { location: 'https://login.test/?next=' + encodeURIComponent(uri), 'set-cookie': ['a=1; Path=/', 'b=2; Path=/'], 'x-internal': 'hidden' })
      res.end()
    } else if (uri.startsWith('/forbidden')) {
      res.writeHead(403, { 'content-type': 'text/plain' })
      res.end('no access for you')
    } else {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="tator"', 'content-type': 'application/json' })
      res.end('{"error":"login required"}')
    }
  })
  server.listen(0, '127.0.0.4')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { origin: `http://127.0.0.4:${(server.address() as net.AddressInfo).port}`, seen, methods }
}

t.test('hash-password on a terminal: asks twice without echo, refuses a mismatch', async t => {
  // script(1) gives the command a pseudo-terminal; what we type is the pty's input.
  const onTty = async (typed: string): Promise<string> => {
    const child = spawn('script', ['-qec', `${process.execPath} ${CLI} hash-password --cost 4`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stdin.write(typed)
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    await once(child, 'exit')
    clearTimeout(timer)
    return out
  }
  const same = await onTty('tty pass\rtty pass\r')
  const hash = /\$2b\$04\$\S{53}/.exec(same)?.[0]
  t.ok(hash !== undefined && await bcrypt.compare('tty pass', hash), `a hash of the typed password: ${same}`)
  t.match(await onTty('one\rtwo\r'), /the passwords differ/)
})

t.test('basic_auth and forward_auth', async t => {
  const hashed = await hashPassword('correct horse')
  t.equal(hashed.code, 0, hashed.stderr)
  const hash = hashed.stdout.trim()
  t.ok(await bcrypt.compare('correct horse', hash), 'hash-password prints a bcrypt hash of stdin without the newline')
  const up = await echoUpstream(t, '127.0.0.2')
  const auth = await authService(t)
  const closedPort = await freePort('127.0.0.4')
  const p = await startPortico({
    config: tlsConfig(['basic.test', 'fwd.test', 'fa.test', 'fadown.test'], `
  - host: basic.test
    basic_auth: { realm: "Tator media", users: { alice: "${hash}" } }
    proxy: { upstreams: ["${up.origin}"] }
  - host: fwd.test
    basic_auth: { users: { alice: "${hash}" }, forward_authorization: true }
    request_headers: { set: { X-Remote-User: "{auth_user}" } }
    proxy: { upstreams: ["${up.origin}"] }
  - host: fa.test
    forward_auth:
      address: "${auth.origin}/auth?check=1"
      timeout: 1500ms
      request_headers: [cookie, authorization, x-tenant]
      copy_headers: [x-auth-user, x-auth-groups]
    proxy: { upstreams: ["${up.origin}"] }
  - host: fadown.test
    forward_auth: { address: "http://127.0.0.4:${closedPort}/auth" }
    proxy: { upstreams: ["${up.origin}"] }
`)
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.http!
  const echo = (body: string): Echo => { try { return JSON.parse(body) as Echo } catch { throw new Error(`not an upstream echo: ${body}`) } }

  t.test('basic_auth: 401 with WWW-Authenticate unless the password is right; Authorization not forwarded', async t => {
    const none = await send(port, 'basic.test')
    t.same([none.status, none.headers['www-authenticate']], [401, 'Basic realm="Tator media", charset="UTF-8"'])
    t.match(none.body, /authentication required/)
    for (const [user, password] of [['alice', 'wrong'], ['mallory', 'correct horse'], ['', '']] as const) {
      const r = await send(port, 'basic.test', { headers: { authorization: basic(user, password) } })
      t.same([r.status, /wrong user name or password/.test(r.body)], [401, true], `${user}:${password}`)
    }
    for (let i = 0; i < 3; i++) {
      const ok = await send(port, 'basic.test', { path: `/x${i}`, headers: { authorization: basic('alice', 'correct horse') } })
      t.equal(ok.status, 200)
      t.equal(echo(ok.body).headers.authorization, undefined, 'not forwarded')
    }
    const fwd = await send(port, 'fwd.test', { headers: { authorization: basic('alice', 'correct horse'), 'x-remote-user': 'forged' } })
    t.same([echo(fwd.body).headers.authorization, echo(fwd.body).headers['x-remote-user']], [basic('alice', 'correct horse'), 'alice'], 'forward_authorization: true, {auth_user}')
    const viaH2 = await sendH2(p.ports.https!, 'basic.test', { headers: { authorization: basic('alice', 'correct horse') } })
    t.same([viaH2.status, echo(viaH2.body).headers.authorization], [200, undefined], 'HTTP/2 accepted')
    const deniedH2 = await sendH2(p.ports.https!, 'basic.test')
    t.same([deniedH2.status, deniedH2.headers['www-authenticate']], [401, 'Basic realm="Tator media", charset="UTF-8"'], 'HTTP/2 challenged')
  })

  t.test('basic_auth guards websocket upgrades too', async t => {
    const s = net.connect(port, '127.0.0.1')
    await once(s, 'connect')
    s.write('GET /ws HTTP/1.1\r\nHost: basic.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
    let text = ''
    s.setEncoding('utf8')
    s.on('data', (d: string) => { text += d })
    await Promise.race([once(s, 'end'), new Promise(resolve => setTimeout(resolve, 5000))])
    s.destroy()
    t.match(text, /^HTTP\/1\.1 401 /)
    t.match(text, /www-authenticate: Basic realm="Tator media"/i)
  })

  t.test('forward_auth matrix', async t => {
    const allowed = await send(port, 'fa.test', { method: 'POST', path: '/allow/x?y=%2F', headers: { cookie: 'c=1', 'x-tenant': 't1', 'x-auth-user': 'forged', 'x-other': 'o' }, body: Buffer.from('body') })
    t.equal(allowed.status, 200, 'allow → upstream')
    const got = echo(allowed.body)
    t.same([got.method, got.url, got.headers['x-auth-user'], got.headers['x-auth-groups'], got.headers['x-not-copied']], ['POST', '/allow/x?y=%2F', 'alice', 'admins', undefined], 'copy_headers replace the client\'s')
    const asked = auth.seen.at(-1)!
    t.same([auth.methods.at(-1), asked['x-forwarded-method'], asked['x-forwarded-uri'], asked['x-forwarded-host'], asked['x-forwarded-proto'], asked['x-forwarded-for']],
      ['POST', 'POST', '/allow/x?y=%2F', 'fa.test', 'http', '127.0.0.1'], 'original method and URI passed')
    t.same([asked.cookie, asked['x-tenant'], asked['x-other'], asked['content-length'] ?? '0'], ['c=1', 't1', undefined, '0'], 'only listed headers, no body')

    const d401 = await send(port, 'fa.test', { path: '/private' })
    t.same([d401.status, d401.headers['www-authenticate'], d401.headers['content-type'], d401.body], [401, 'Bearer realm="tator"', 'application/json', '{"error":"login required"}'])
    const d403 = await send(port, 'fa.test', { path: '/forbidden' })
    t.same([d403.status, d403.body], [403, 'no access for you'])
    const login = await send(port, 'fa.test', { path: '/login/page' })
    t.same([login.status, login.headers.location, login.headers['set-cookie'], login.headers['x-internal']],
      [302, 'https://login.test/?next=%2Flogin%2Fpage', ['a=1; Path=/', 'b=2; Path=/'], undefined], 'redirect with Location and both cookies; other headers stay')

    const slowStart = Date.now()
    const slow = await send(port, 'fa.test', { path: '/slow' })
    t.same([slow.status, /auth service timed out/.test(slow.body)], [504, true], 'slow auth service → 504')
    t.ok(Date.now() - slowStart < 5000, 'answered after the configured timeout, not the default')
    const down = await send(port, 'fadown.test', { path: '/allow' })
    t.same([down.status, /auth service unreachable \(ECONNREFUSED\)/.test(down.body)], [502, true], 'auth service down → 502, never an open door')

    const viaH2 = await sendH2(p.ports.https!, 'fa.test', { path: '/cookie', headers: { cookie: ['session=good'] } })
    t.same([viaH2.status, echo(viaH2.body).headers['x-auth-user']], [200, 'alice'], 'HTTP/2 allowed, cookie passed')
    const deniedH2 = await sendH2(p.ports.https!, 'fa.test', { path: '/cookie', headers: { cookie: ['session=bad'] } })
    t.same([deniedH2.status, deniedH2.body], [401, '{"error":"login required"}'], 'HTTP/2 denied')
    t.equal(auth.seen.at(-1)!['x-forwarded-proto'], 'https')
  })
})
