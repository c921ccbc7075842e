import t from 'tap'
import tls from 'node:tls'
import http2 from 'node:http2'
import { X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { makeTempDir, startPortico } from '../helpers/portico.js'
import { makeClientPki } from '../helpers/client-pki.js'
import { echoUpstream, type Echoed } from '../helpers/upstreams.js'
import { connectTcp } from '../helpers/tcp-peers.js'

/**
 * Issue 24: client certificates on HTTPS listeners (`client_ca_file`, `client_auth`), on the
 * engine and on engine: node, HTTP/1.1 and HTTP/2: required refuses the handshake, optional
 * passes the verdict on; the identity reaches the upstream in tls.client_auth_headers, which
 * no client can forge; a reload applies a changed CA file to new handshakes.
 */

interface Creds { cert?: string, key?: string }
const FORGED = { 'x-client-cert-subject': 'CN=admin', 'x-client-cert-fingerprint': 'AA:BB', 'x-client-cert-verify': 'SUCCESS' }

/**
 * One HTTP/1.1 request with forged identity fields; the echo's JSON, or the error that ended the
 * connection. `proxyHeader`: sent first on the raw socket, as a balancer would.
 */
async function h1 (port: number, creds: Creds, proxyHeader?: string): Promise<Echoed | string> {
  const raw = proxyHeader === undefined ? undefined : await connectTcp(port)
  if (proxyHeader !== undefined) raw?.write(proxyHeader)
  return await new Promise(resolve => {
    const s = tls.connect({ host: '127.0.0.1', port, socket: raw, servername: 'admin.test', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], ...creds })
    let text = ''
    const timer = setTimeout(() => { s.destroy(); resolve(`timeout: ${text}`) }, 5000)
    s.on('secureConnect', () => {
      s.write(`GET /x HTTP/1.1\r\nHost: admin.test\r\n${Object.entries(FORGED).map(([k, v]) => `${k}: ${v}\r\n`).join('')}Connection: close\r\n\r\n`)
    })
    s.setEncoding('latin1')
    s.on('data', (d: string) => { text += d })
    s.on('error', (err: NodeJS.ErrnoException) => { clearTimeout(timer); resolve(`error: ${err.code ?? err.message}`) })
    s.on('close', () => {
      clearTimeout(timer)
      resolve(text.includes('{') ? JSON.parse(text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1)) as Echoed : `closed: ${text}`)
    })
  })
}

async function h2 (port: number, creds: Creds): Promise<Echoed | string> {
  const session = http2.connect('https://admin.test', { createConnection: () => tls.connect({ host: '127.0.0.1', port, servername: 'admin.test', rejectUnauthorized: false, ALPNProtocols: ['h2'], ...creds }) })
  session.on('error', () => {})
  try {
    const req = session.request({ ':path': '/x', ...FORGED })
    const result = await Promise.race([
      once(req, 'response').then(() => 'ok'),
      once(req, 'error').then(([err]) => `error: ${String((err as NodeJS.ErrnoException).code)}`),
      once(session, 'close').then(() => 'closed')
    ])
    if (result !== 'ok') return result
    let body = ''
    req.setEncoding('utf8')
    for await (const chunk of req) body += chunk as string
    return JSON.parse(body) as Echoed
  } catch (err) {
    return `error: ${(err as Error).message}`
  } finally { session.destroy() }
}

const fp = (pem: string): string => new X509Certificate(pem).fingerprint256

t.test('client certificates on HTTPS listeners: required, optional, h1 and h2, engine and node; forged identities dropped; CA reload', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const good = makeClientPki('portico test client CA', 'client-1')
  const other = makeClientPki('some other CA', 'intruder')
  const caFile = join(dir, 'client-ca.pem')
  await writeFile(caFile, good.caCert)
  const up = await echoUpstream(t)
  const p = await startPortico({
    dir,
    config: `
state_dir: \${STATE}
admin: null
log: { level: info, access: true }
tls: { self_signed: { names: [admin.test] } }
listeners:
  - { name: required, address: "127.0.0.1:0", tls: true, engine: portico, client_ca_file: ${caFile} }
  - { name: requirednode, address: "127.0.0.1:0", tls: true, engine: node, client_ca_file: ${caFile} }
  - { name: optional, address: "127.0.0.1:0", tls: true, engine: portico, client_ca_file: ${caFile}, client_auth: optional }
  - { name: optionalnode, address: "127.0.0.1:0", tls: true, engine: node, client_ca_file: ${caFile}, client_auth: optional }
  - { name: plain, address: "127.0.0.1:0", tls: true }
  - { name: behindlb, address: "127.0.0.1:0", tls: true, client_ca_file: ${caFile}, accept_proxy_protocol: true }
trusted_proxies: [127.0.0.1/32]
routes:
  - { host: "*", proxy: { upstreams: ["${up.origin}"] } }
`
  })
  t.teardown(() => p.stop('SIGKILL'))
  const valid = { cert: good.cert, key: good.key }
  const intruder = { cert: other.cert, key: other.key }
  const identity = { 'x-client-cert-subject': 'CN=client-1', 'x-client-cert-fingerprint': fp(good.cert), 'x-client-cert-verify': 'SUCCESS' }

  for (const name of ['required', 'requirednode']) {
    const port = p.ports[name]!
    for (const [proto, send] of [['h1', h1], ['h2', h2]] as const) {
      const ok = await send(port, valid)
      t.match(ok, { headers: identity }, `${name} ${proto}: a valid certificate: the verified identity upstream, the forged fields replaced`)
      const seen = up.seen.length
      const missing = await send(port, {})
      t.type(missing, 'string', `${name} ${proto}: no certificate: the handshake fails (${String(missing)})`)
      const wrong = await send(port, intruder)
      t.type(wrong, 'string', `${name} ${proto}: a certificate of another CA: the handshake fails (${String(wrong)})`)
      t.equal(up.seen.length, seen, `${name} ${proto}: refused clients never reach the upstream`)
    }
  }
  for (const name of ['optional', 'optionalnode']) {
    const port = p.ports[name]!
    for (const [proto, send] of [['h1', h1], ['h2', h2]] as const) {
      t.match(await send(port, valid), { headers: identity }, `${name} ${proto}: a valid certificate`)
      const none = await send(port, {}) as Echoed
      t.equal(none.headers['x-client-cert-verify'], 'NONE', `${name} ${proto}: no certificate: NONE`)
      t.equal(none.headers['x-client-cert-subject'], undefined, `${name} ${proto}: no certificate: no subject (the forged one dropped)`)
      const wrong = await send(port, intruder) as Echoed
      t.match(wrong.headers['x-client-cert-verify'], /^FAILED:[A-Z_]+$/, `${name} ${proto}: another CA: FAILED:reason`)
      t.equal(wrong.headers['x-client-cert-subject'], undefined, `${name} ${proto}: an unverified subject is never passed on`)
      t.equal(wrong.headers['x-client-cert-fingerprint'], undefined, `${name} ${proto}: nor its fingerprint`)
    }
  }
  for (const [proto, send] of [['h1', h1], ['h2', h2]] as const) {
    const plain = await send(p.ports.plain!, valid) as Echoed
    t.notOk(Object.keys(plain.headers).some(h => h.startsWith('x-client-cert-')), `plain ${proto}: identity fields are stripped on listeners without client certificates too`)
  }

  const proxied = await h1(p.ports.behindlb!, valid, 'PROXY TCP4 192.0.2.7 127.0.0.1 40000 443\r\n')
  t.match(proxied, { headers: { ...identity, 'x-forwarded-for': '192.0.2.7' } }, 'behind a balancer: the PROXY header before the ClientHello, then the client certificate')

  // A changed CA file applies to new handshakes after a reload, without a rebind.
  await writeFile(caFile, other.caCert)
  p.child.kill('SIGHUP')
  await p.waitForLog(l => l.msg === 'config reloaded')
  t.match(await h1(p.ports.required!, intruder), { headers: { 'x-client-cert-subject': 'CN=intruder' } }, 'after the reload the new CA\'s clients get in')
  t.type(await h1(p.ports.required!, valid), 'string', 'and the old CA\'s are refused')
  t.match(await h2(p.ports.requirednode!, intruder), { headers: { 'x-client-cert-verify': 'SUCCESS' } }, 'on engine: node and h2 too')
})
