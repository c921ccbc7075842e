import t from 'tap'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import { ensureSelfSigned } from '../../src/tls/index.js'
import { makeTempDir, plainAndTlsConfig, startPortico, type LogLine } from '../helpers/portico.js'
import { serve } from '../helpers/upstreams.js'
import { send, sendH2, type Reply } from '../helpers/http.js'
import { rawExchange } from '../helpers/raw-socket.js'
import { figure, scaled } from '../helpers/figures.js'

/**
 * Issue 25: apps the way researchers run them behind the UAP (one session cookie, h2 cookie
 * crumbs, curl uploads with Expect, Early Hints, declined websocket upgrades, quiet streams,
 * keep-alive races, TLS instances at an IP), over plain HTTP/1.1, TLS and HTTP/2, on UAP, plain
 * proxy, CORS and CCP routes.
 */

/** The Cookie lines as the upstream received them (tornado joins repeated ones with ","). */
function receivedCookies (raw: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === 'cookie') out.push(raw[i + 1] as string)
  return out
}

/** The app: each path one behaviour a real app has. */
function app (): http.Server {
  const server = http.createServer(appHandler)
  // A Jupyter kernel that is gone: the websocket upgrade is declined with a normal response.
  // Both answers set a cookie for the whole UAP domain, which must be scoped like any other.
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    const cookie = 'set-cookie: kernel=1; Path=/; Domain=uap.test\r\n'
    // An app without h2c ignores that upgrade and answers the request as it is.
    if (req.headers.upgrade === 'h2c') {
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nplain')
      return
    }
    if (req.url === '/ws') {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n${cookie}\r\n`)
      socket.end()
      return
    }
    socket.end(`HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\n${cookie}content-length: 9\r\n\r\nno kernel`)
  })
  return server
}

function appHandler (req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0]
  switch (path) {
    case '/one-cookie':
      res.setHeader('set-cookie', 'sid=1; Path=/; Domain=uap.test')
      res.end('one')
      return
    case '/many-cookies':
      res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Domain=uap.test'])
      res.end('many')
      return
    case '/cookies':
      res.end(JSON.stringify(receivedCookies(req.rawHeaders)))
      return
    case '/upload': {
      let n = 0
      req.on('data', (d: Buffer) => { n += d.length })
      req.on('end', () => res.end(`${n} ${req.headers.expect ?? 'no-expect'}`))
      return
    }
    case '/hints':
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' })
      setTimeout(() => res.end('final'), 20)
      return
    case '/odd-status':
      // A status HTTP/2 cannot carry: writing it throws inside portico on h2 responses.
      res.socket?.end('HTTP/1.1 600 Odd\r\ncontent-length: 3\r\nconnection: close\r\n\r\nodd')
      return
    case '/sse':
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: 1\n\n')
      return // then silence
    default:
      res.end('ok')
  }
}

/**
 * uvicorn-like keep-alive race: every connection answers one request and dies as the next
 * arrives. On /hinted it announces `Keep-Alive: timeout=1` first, so it is never reused at all;
 * on /hinted3 `timeout=3`, so it may idle for 1 s (the hint less the 2 s reuse threshold).
 */
function racyUpstream (): net.Server & { killed: number } {
  const server = net.createServer(s => {
    let answered = false
    s.on('error', () => {})
    s.on('data', (d: Buffer) => {
      if (answered) { server.killed++; s.destroy(); return }
      answered = true
      const line = d.toString('latin1')
      const hint = line.startsWith('GET /hinted3') ? 'keep-alive: timeout=3\r\n' : line.startsWith('GET /hinted') ? 'keep-alive: timeout=1\r\n' : ''
      s.write(`HTTP/1.1 200 OK\r\ncontent-length: 2\r\n${hint}\r\nok`)
    })
  }) as net.Server & { killed: number }
  server.killed = 0
  return server
}

t.test('apps behind the UAP, plain proxy and CORS routes over h1, TLS and h2', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const { port: appPort } = await serve(t, app())
  const racy = racyUpstream()
  const { port: racyPort } = await serve(t, racy, '127.0.0.3')
  const tlsCert = await ensureSelfSigned(join(dir, 'instance'), ['instance.example'])
  const sni: Array<string | false> = []
  const tlsInstance = https.createServer({ cert: await readFile(tlsCert.certFile), key: await readFile(tlsCert.keyFile) }, (req, res) => {
    sni.push((req.socket as unknown as { servername: string | false }).servername)
    appHandler(req, res)
  })
  const { port: tlsPort } = await serve(t, tlsInstance, '127.0.0.4')
  const cert = await ensureSelfSigned(join(dir, 'edge'), ['*.uap.test', 'proxy.test', 'cors.test', 'sse.test', 'race.test'])
  const origin = `http://127.0.0.2:${appPort}`
  const p = await startPortico({
    dir,
    config: plainAndTlsConfig(cert, `
  - name: uap
    uap: { domain: uap.test, allow: [127.0.0.0/8], default_scheme: http }
  - name: uap-named
    uap: { domain: named.test, allow: [127.0.0.0/8], default_scheme: http, tls: { server_name: instance.example } }
  - name: proxy
    host: [proxy.test]
    proxy: { upstreams: ["${origin}"] }
  - name: cors
    host: [cors.test]
    proxy: { upstreams: ["${origin}"] }
    cors: { origins: ["https://app.example.org"], credentials: true }
  - name: ccp
    host: [ccp.test]
    cors: { origins: ["https://app.example.org"], credentials: true }
    cors_proxy: { networks: [127.0.0.4/32], ports: ["${tlsPort}"], tls: { verify: false } }
  - name: sse
    host: [sse.test]
    proxy: { upstreams: ["${origin}"], timeouts: { idle: 300ms } }
  - name: race
    host: [race.test]
    proxy: { upstreams: ["http://127.0.0.3:${racyPort}"] }
`)
  })
  t.teardown(() => p.stop('SIGKILL'))
  const uapHost = `http-127-0-0-2-${appPort}.uap.test`
  const corsHeaders = { origin: 'https://app.example.org' }
  // The CCP reaches the same app over TLS (the instance at 127.0.0.4), below /proxy.
  const ccpHeaders = { ...corsHeaders, 'exo-proxy-orig-host': '127.0.0.4', 'exo-proxy-orig-port': String(tlsPort) }
  const routes = [
    { route: 'uap', host: uapHost, prefix: '', extra: {} },
    { route: 'proxy', host: 'proxy.test', prefix: '', extra: {} },
    { route: 'cors', host: 'cors.test', prefix: '', extra: corsHeaders },
    { route: 'ccp', host: 'ccp.test', prefix: '/proxy', extra: ccpHeaders }
  ]
  type Transport = 'h1' | 'tls' | 'h2'
  const get = async (via: Transport, host: string, path: string, headers: Record<string, string | string[]> = {}): Promise<Reply & { error?: string }> => {
    if (via === 'h2') return await sendH2(p.ports.tls!, host, { path, headers })
    const flat = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v.join('; ') : v]))
    return await send(via === 'tls' ? p.ports.tls! : p.ports.plain!, host, { path, tls: via === 'tls', headers: flat })
      .catch((err: Error) => ({ status: 0, headers: {}, body: '', error: err.message }))
  }

  await t.test('1: one Set-Cookie (and several) reach the client on every route and transport', async t => {
    for (const via of ['h1', 'tls', 'h2'] as const) {
      for (const { route, host, prefix, extra } of routes) {
        const one = await get(via, host, `${prefix}/one-cookie`, extra)
        t.same([one.status, one.body, one.error], [200, 'one', undefined], `${route} over ${via}: one cookie`)
        const want = route === 'uap' ? 'sid=1; Path=/' : 'sid=1; Path=/; Domain=uap.test'
        t.same(one.headers['set-cookie'], [want], `${route} over ${via}: the cookie (scoped on the UAP)`)
        if (route === 'cors' || route === 'ccp') t.equal(one.headers['access-control-allow-origin'], 'https://app.example.org')
        const many = await get(via, host, `${prefix}/many-cookies`, extra)
        t.same([many.status, many.body], [200, 'many'], `${route} over ${via}: two cookies`)
        t.same(many.headers['set-cookie'], route === 'uap' ? ['a=1; Path=/', 'b=2'] : ['a=1; Path=/', 'b=2; Domain=uap.test'])
      }
    }
  })

  await t.test('2: HTTP/2 cookie crumbs arrive as one Cookie line joined with "; "', async t => {
    for (const { route, host, prefix, extra } of routes) {
      const r = await get('h2', host, `${prefix}/cookies`, { cookie: ['_xsrf=2|abc', 'sid=1', 'theme=dark'], ...extra })
      t.same(JSON.parse(r.body), ['_xsrf=2|abc; sid=1; theme=dark'], route)
    }
    const h1 = await get('h1', uapHost, '/cookies', { cookie: 'a=1; b=2' })
    t.same(JSON.parse(h1.body), ['a=1; b=2'], 'an HTTP/1.1 Cookie line passes unchanged')
  })

  await t.test('3: an upload with Expect: 100-continue goes through', async t => {
    const body = Buffer.alloc(2 * 1024 * 1024, 120)
    for (const via of ['h1', 'tls'] as const) {
      for (const host of [uapHost, 'proxy.test']) {
        const r = await new Promise<Reply>((resolve, reject) => {
          const mod = via === 'tls' ? https : http
          const req = mod.request({
            host: '127.0.0.1', port: via === 'tls' ? p.ports.tls : p.ports.plain, method: 'PUT', path: '/upload',
            agent: false, rejectUnauthorized: false, servername: host, headers: { host, 'content-length': body.length, expect: '100-continue' }
          }, res => {
            let text = ''
            res.on('data', (d: Buffer) => { text += d.toString() })
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
          })
          req.on('continue', () => req.end(body))
          req.on('error', reject)
        })
        t.same([r.status, r.body], [200, `${body.length} no-expect`], `${host} over ${via}: 100 answered by portico, body forwarded`)
      }
    }
  })

  await t.test('4: a keep-alive connection the upstream closes as the next request arrives is retried', async t => {
    const RACES = scaled(5)
    let failed = 0
    for (let i = 0; i < RACES; i++) {
      const r = await send(p.ports.plain!, 'race.test')
      if (r.status !== 200 || r.body !== 'ok') failed++
    }
    t.equal(failed, 0, `${RACES} sequential requests, each meeting a connection the upstream closes under it`)
    t.ok(racy.killed > 0, 'the race did happen')
    figure({
      case: 'keep-alive race',
      tried: 'sequential GETs to an upstream that closes each reused connection as the request arrives',
      count: RACES,
      result: `${failed} failed (${racy.killed} connections died under a request)`
    })
    // The first one may still meet a connection the plain requests above left open.
    t.equal((await send(p.ports.plain!, 'race.test', { path: '/hinted' })).status, 200)
    const killed = racy.killed
    for (let i = 0; i < 3; i++) t.equal((await send(p.ports.plain!, 'race.test', { path: '/hinted' })).status, 200)
    t.equal(racy.killed, killed, 'a Keep-Alive: timeout hint shorter than the reuse threshold: no connection reused')
    t.equal((await send(p.ports.plain!, 'race.test', { path: '/hinted3' })).status, 200)
    await new Promise(resolve => setTimeout(resolve, 1300))
    t.equal((await send(p.ports.plain!, 'race.test', { path: '/hinted3' })).status, 200)
    t.equal(racy.killed, killed, 'timeout=3: not reused after 1.3 s idle (the hint less the 2 s threshold, as undici does)')
  })

  await t.test('5: 103 Early Hints before the final response', async t => {
    const from = p.logs.length
    for (const via of ['h1', 'tls', 'h2'] as const) {
      const r = await get(via, uapHost, '/hints')
      t.same([r.status, r.body, r.error], [200, 'final', undefined], `final response over ${via}`)
    }
    const hints = await new Promise<Array<{ status: number, link: unknown }>>((resolve, reject) => {
      const seen: Array<{ status: number, link: unknown }> = []
      const req = http.get({ host: '127.0.0.1', port: p.ports.plain, path: '/hints', headers: { host: uapHost }, agent: false }, res => {
        res.resume()
        res.on('end', () => resolve(seen))
      })
      req.on('information', info => seen.push({ status: info.statusCode, link: info.headers.link }))
      req.on('error', reject)
    })
    t.same(hints, [{ status: 103, link: '</style.css>; rel=preload; as=style' }], 'the hint reached the HTTP/1.1 client')
    await p.waitForLog(l => accessOf(l)?.path === '/hints' && accessOf(l)?.status !== undefined, 5000, from)
    const logged = p.logs.slice(from).map(accessOf).filter(a => a?.path === '/hints').map(a => a?.status)
    t.ok(logged.length >= 1 && logged.every(s => s === 200), `logged with the final status, never as 103: ${JSON.stringify(logged)}`)
  })

  await t.test('6: a declined websocket upgrade passes the upstream answer on, its cookie scoped', async t => {
    const head = (path: string): string => `GET ${path} HTTP/1.1\r\nhost: ${uapHost}\r\nconnection: upgrade\r\nupgrade: websocket\r\n` +
      'sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
    const { text } = await rawExchange(p.ports.plain!, head('/api/kernels/x/channels'), 3000)
    t.match(text, /^HTTP\/1\.1 404 Not Found\r\n/, text)
    t.match(text, /\r\n\r\nno kernel$/)
    t.match(text, /\r\nset-cookie: kernel=1; Path=\/\r\n/i, 'no Domain=uap.test: a sibling instance never gets it')
    const accepted = await rawExchange(p.ports.plain!, head('/ws'), 3000)
    t.match(accepted.text, /^HTTP\/1\.1 101 /, accepted.text)
    t.match(accepted.text, /\r\nset-cookie: kernel=1; Path=\/\r\n/i, 'the handshake\'s cookie is scoped too')
    t.match(accepted.text, /\r\nupgrade: websocket\r\n/i)
    const h2c = await rawExchange(p.ports.plain!, `GET /page HTTP/1.1\r\nhost: ${uapHost}\r\nconnection: Upgrade, HTTP2-Settings\r\n` +
      'upgrade: h2c\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n', 3000)
    t.match(h2c.text, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nplain$/, `an h2c upgrade the app ignores: its 200 passes: ${h2c.text}`)
  })

  await t.test('7: no SNI to an https- instance at an IP', async t => {
    const r = await send(p.ports.plain!, `https-127-0-0-4-${tlsPort}.uap.test`)
    t.same([r.status, r.body], [200, 'ok'])
    t.ok(sni.length > 0 && sni.every(name => name === false), `the instance saw no server name (not the UAP host name): ${JSON.stringify(sni)}`)
    const seen = sni.length
    const named = await send(p.ports.plain!, `https-127-0-0-4-${tlsPort}.named.test`)
    t.same([named.status, named.body], [200, 'ok'])
    t.same(sni.slice(seen), ['instance.example'], 'uap.tls.server_name configured: that name is sent')
  })

  await t.test('8: a stream cut at the idle timeout is logged with an error', async t => {
    const from = p.logs.length
    const complete = await new Promise<boolean>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: p.ports.plain, path: '/sse', headers: { host: 'sse.test' }, agent: false }, res => {
        res.resume()
        res.on('error', () => {})
        res.on('close', () => resolve(res.complete))
      }).on('error', reject)
    })
    t.equal(complete, false, 'the client sees an aborted response')
    const line = await p.waitForLog(l => accessOf(l)?.path === '/sse', 5000, from)
    t.equal(accessOf(line)?.status, 200)
    t.match(accessOf(line)?.error, /idle timeout/, 'the access line says why it ended')
  })

  await t.test('an exception on the response path: 502 before anything was sent, logged at error level', async t => {
    const from = p.logs.length
    const r = await get('h2', uapHost, '/odd-status')
    t.same([r.status, r.error], [502, undefined], 'HTTP/2 cannot carry status 600: portico answers 502')
    const err = await p.waitForLog(l => l.msg === 'request failed inside portico', 5000, from)
    t.equal(err.level, 50)
    const line = await p.waitForLog(l => accessOf(l)?.path === '/odd-status', 5000, from)
    t.equal(accessOf(line)?.status, 502)
    const h1 = await get('h1', uapHost, '/odd-status')
    t.same([h1.status, h1.body], [600, 'odd'], 'HTTP/1.1 passes it on')
  })
})

function accessOf (l: LogLine): { path?: string, status?: number, error?: string } | undefined {
  return l.access as { path?: string, status?: number, error?: string } | undefined
}
