import t from 'tap'
import net from 'node:net'
import tls from 'node:tls'
import http2 from 'node:http2'
import { once } from 'node:events'
import { startPortico } from '../helpers/portico.js'
import { echoUpstream, type Echoed } from '../helpers/upstreams.js'
import { closedWithin, connectTcp } from '../helpers/tcp-peers.js'
import { encodeV2 } from '../../src/stream/index.js'

/**
 * Issue 24: PROXY protocol v1/v2 on HTTP and HTTPS listeners (the engine and engine: node, h1
 * and h2): the balancer's client is the client everywhere — X-Forwarded-For, client_deny, the
 * access log — and a header from an untrusted source, a malformed one or none closes the connection.
 */

const V2_SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')
const v1 = (ip: string): string => `PROXY TCP4 ${ip} 127.0.0.1 40000 443\r\n`
const v2 = (ip: string): Buffer => encodeV2({ address: ip, port: 40001 }, { address: '127.0.0.1', port: 443 })
/** v2 LOCAL: the balancer's own health check, no client. */
const LOCAL = Buffer.concat([V2_SIG, Buffer.from([0x20, 0x00, 0, 0])])

/** Writes the PROXY header, then one HTTP/1.1 request on the plain or TLS socket; resolves with the whole answer. */
async function h1 (port: number, header: string | Buffer, host: string, secure: boolean): Promise<string> {
  const raw = await connectTcp(port)
  raw.write(header)
  const s: net.Socket = secure ? tls.connect({ socket: raw, servername: 'proxied.test', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }) : raw
  if (secure) await once(s, 'secureConnect')
  let text = ''
  s.setEncoding('latin1')
  s.on('data', (d: string) => { text += d })
  s.on('error', () => {})
  s.write(`GET /who HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n`)
  await Promise.race([once(s, 'close'), new Promise(resolve => setTimeout(resolve, 5000))])
  raw.destroy()
  return text
}

/** The same over HTTP/2 (ALPN h2) on a TLS listener. */
async function h2 (port: number, header: Buffer, host: string): Promise<{ status: number, body: string }> {
  const raw = await connectTcp(port)
  raw.write(header)
  const session = http2.connect(`https://${host}`, { createConnection: () => tls.connect({ socket: raw, servername: 'proxied.test', rejectUnauthorized: false, ALPNProtocols: ['h2'] }) })
  try {
    const req = session.request({ ':path': '/who', 'x-forwarded-for': '6.6.6.6' })
    const [headers] = await once(req, 'response') as [http2.IncomingHttpHeaders]
    let body = ''
    req.setEncoding('utf8')
    for await (const chunk of req) body += chunk as string
    return { status: Number(headers[':status']), body }
  } finally { session.close() }
}

/** Listeners accepting PROXY headers from 127.0.0.1, and a catch-all route to the echo upstream. */
const configOf = (origin: string, listeners: string, routes = ''): string => `
state_dir: \${STATE}
admin: null
log: { level: info, access: true }
trusted_proxies: [127.0.0.1/32]
tls: { self_signed: { names: [proxied.test] } }
listeners:
${listeners}
routes:
${routes}  - { host: "*", proxy: { upstreams: ["${origin}"] } }
`

/** The echo's JSON (whatever the framing: one chunk or a length). */
const bodyOf = (answer: string): Echoed => JSON.parse(answer.slice(answer.indexOf('{'), answer.lastIndexOf('}') + 1)) as Echoed

t.test('PROXY v1/v2 on HTTP and HTTPS listeners, engine and node, h1 and h2', async t => {
  const up = await echoUpstream(t)
  const p = await startPortico({
    config: configOf(up.origin, `
  - { name: http, address: "127.0.0.1:0", engine: portico, accept_proxy_protocol: true, handshake_timeout: 1s }
  - { name: httpnode, address: "127.0.0.1:0", engine: node, accept_proxy_protocol: true, handshake_timeout: 1s }
  - { name: https, address: "127.0.0.1:0", tls: true, engine: portico, accept_proxy_protocol: true }
  - { name: httpsnode, address: "127.0.0.1:0", tls: true, engine: node, accept_proxy_protocol: true }`,
    '  - { host: deny.test, client_deny: [192.0.2.66], respond: { body: "deny ok" } }\n')
  })
  t.teardown(() => p.stop('SIGKILL'))

  for (const name of ['http', 'httpnode', 'https', 'httpsnode']) {
    const port = p.ports[name]!
    const secure = name.startsWith('https')
    const a = await h1(port, v1('192.0.2.7'), 'app.test', secure)
    t.match(a, /^HTTP\/1\.1 200/, `${name}: v1 answered`)
    t.equal(bodyOf(a).headers['x-forwarded-for'], '192.0.2.7', `${name}: the upstream sees the PROXY client, the client's own X-Forwarded-For dropped`)
    t.match(bodyOf(a).headers.forwarded, /^for=192\.0\.2\.7;/, `${name}: Forwarded too`)
    const b = await h1(port, v2('198.51.100.9'), 'app.test', secure)
    t.equal(bodyOf(b).headers['x-forwarded-for'], '198.51.100.9', `${name}: v2`)
    const local = await h1(port, LOCAL, 'app.test', secure)
    // The balancer itself is the peer then, and a trusted proxy: its X-Forwarded-For is extended.
    t.equal(bodyOf(local).headers['x-forwarded-for'], '6.6.6.6, 127.0.0.1', `${name}: v2 LOCAL keeps the socket's address`)
    t.match(await h1(port, v1('192.0.2.66'), 'deny.test', secure), /^HTTP\/1\.1 403[^]*client address 192\.0\.2\.66 is denied/, `${name}: client_deny sees the PROXY client`)
    t.match(await h1(port, v1('192.0.2.67'), 'deny.test', secure), /^HTTP\/1\.1 200[^]*deny ok/, `${name}: another PROXY client passes`)
    const logged = await p.waitForLog(l => l.msg === 'request' && (l.access as { listener: string, client: string }).listener === name &&
      (l.access as { client: string }).client === '198.51.100.9')
    t.ok(logged, `${name}: the access log shows the PROXY client`)
    if (secure) {
      const r = await h2(port, v2('203.0.113.5'), 'app.test')
      t.equal(r.status, 200, `${name}: h2 after the header`)
      t.equal((JSON.parse(r.body) as Echoed).headers['x-forwarded-for'], '203.0.113.5', `${name}: h2 sees the PROXY client`)
    }
  }
})

t.test('untrusted, malformed, missing or late PROXY headers close the connection before any request', async t => {
  const up = await echoUpstream(t)
  const p = await startPortico({
    config: configOf(up.origin, `
  - { name: http, address: "127.0.0.1:0", engine: portico, accept_proxy_protocol: true, handshake_timeout: 1s }
  - { name: httpnode, address: "127.0.0.1:0", engine: node, accept_proxy_protocol: true, handshake_timeout: 1s }
  - { name: https, address: "127.0.0.1:0", tls: true, accept_proxy_protocol: true, handshake_timeout: 1s }`)
  })
  t.teardown(() => p.stop('SIGKILL'))
  const request = 'GET / HTTP/1.1\r\nHost: app.test\r\n\r\n'
  for (const name of ['http', 'httpnode', 'https']) {
    const port = p.ports[name]!
    const cases: Array<[string, string | Buffer]> = [
      ['no header', request],
      ['malformed v1', `PROXY TCP4 192.0.2.999 127.0.0.1 1 2\r\n${request}`],
      ['v2 with a bad version', Buffer.concat([V2_SIG, Buffer.from([0x31, 0x11, 0, 12]), Buffer.alloc(12), Buffer.from(request)])]
    ]
    for (const [what, bytes] of cases) {
      const s = await connectTcp(port)
      let got = ''
      s.on('data', (d: Buffer) => { got += d.toString('latin1') })
      s.write(bytes)
      t.ok(await closedWithin(s, 3000) < 3000, `${name}: ${what}: closed`)
      t.equal(got, '', `${name}: ${what}: nothing answered`)
    }
    const silent = await connectTcp(port)
    t.ok(await closedWithin(silent, 4000) < 4000, `${name}: no bytes at all: closed after handshake_timeout`)
    const untrusted = await connectTcp(port, '127.0.0.1')
    untrusted.destroy()
    const fromElsewhere = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.5' }, () => resolve(s))
      s.once('error', reject)
    })
    let got = ''
    fromElsewhere.on('data', (d: Buffer) => { got += d.toString('latin1') })
    fromElsewhere.write(`${v1('192.0.2.7')}${request}`)
    t.ok(await closedWithin(fromElsewhere, 3000) < 3000, `${name}: a header from outside trusted_proxies: closed`)
    t.equal(got, '', `${name}: untrusted: nothing answered`)
    const refused = await p.waitForLog(l => l.msg === 'tcp connection' && (l.tcp as { listener: string, client: string }).listener === name &&
      (l.tcp as { client: string }).client === '127.0.0.5')
    t.match(refused.tcp, { error: 'PROXY protocol expected from trusted_proxies only', route: null })
  }
  t.equal(up.seen.length, 0, 'no refused connection reached the upstream')
})

t.test('limits.max_connections_per_ip counts the PROXY client, not the balancer', async t => {
  const up = await echoUpstream(t)
  const p = await startPortico({
    config: configOf(up.origin, '  - { name: http, address: "127.0.0.1:0", accept_proxy_protocol: true }') + 'limits: { max_connections_per_ip: 1 }\n'
  })
  t.teardown(() => p.stop('SIGKILL'))
  /** Opens a kept-alive connection for `ip` and resolves with its first answer's status line, or 'closed'. */
  const open = async (ip: string): Promise<{ socket: net.Socket, status: string }> => {
    const s = await connectTcp(p.ports.http!)
    s.write(`${v1(ip)}GET / HTTP/1.1\r\nHost: app.test\r\n\r\n`)
    const status = await Promise.race([
      once(s, 'data').then(([d]) => (d as Buffer).toString('latin1').split('\r\n')[0]!),
      once(s, 'close').then(() => 'closed'),
      new Promise<string>(resolve => setTimeout(() => resolve('timeout'), 5000))
    ])
    return { socket: s, status }
  }
  const a = await open('192.0.2.10')
  t.equal(a.status, 'HTTP/1.1 200 OK', 'a first client behind the balancer')
  const b = await open('192.0.2.11')
  t.equal(b.status, 'HTTP/1.1 200 OK', 'another client behind the same balancer is not counted against the first')
  const c = await open('192.0.2.10')
  t.equal(c.status, 'closed', 'a second connection of the same PROXY client is over its limit')
  for (const s of [a, b, c]) s.socket.destroy()
})
