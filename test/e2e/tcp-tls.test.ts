import t from 'tap'
import net from 'node:net'
import tls from 'node:tls'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { makeTempDir, startPortico } from '../helpers/portico.js'
import { makeClientPki } from '../helpers/client-pki.js'
import { closedWithin, connectTcp, tcpEcho } from '../helpers/tcp-peers.js'
import { until } from '../helpers/wait.js'
import { decodeProxyHeader, PP2_TYPE_SSL, PP2_TYPE_PORTICO_FINGERPRINT } from '../../src/stream/index.js'

const V2_SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')

/** Opens a TLS connection to portico, writes `data`, returns what came back once it ends with `data` (or the error that ended it). */
async function tlsExchange (port: number, opts: tls.ConnectionOptions, data: string): Promise<string> {
  return await new Promise(resolve => {
    let got = ''
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'tcp.test', rejectUnauthorized: false, ...opts }, () => { s.write(data) })
    const timer = setTimeout(() => { s.destroy(); resolve(`timeout: ${got}`) }, 5000)
    s.on('data', (d: Buffer) => { got += d.toString(); if (got.endsWith(data)) { clearTimeout(timer); s.end(); resolve(got) } })
    s.once('error', (err: NodeJS.ErrnoException) => { clearTimeout(timer); resolve(`error: ${err.code ?? err.message}`) })
    s.once('close', () => { clearTimeout(timer); resolve(got === '' ? 'closed' : got) })
  })
}

t.test('TLS termination with client certificates (required and optional); the subject reaches the upstream in PROXY v2 TLVs', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const good = makeClientPki('portico test client CA', 'client-1')
  const other = makeClientPki('some other CA', 'intruder')
  await writeFile(join(dir, 'client-ca.pem'), good.caCert)
  const a = await tcpEcho(t, '127.0.0.2', 'A')
  const b = await tcpEcho(t, '127.0.0.3', 'B')
  const p = await startPortico({
    dir,
    config: `
state_dir: \${STATE}
admin: null
log: { level: info, access: true }
tls: { self_signed: { names: [tcp.test] } }
listeners:
  - { name: strict, address: "127.0.0.1:0", protocol: tcp, tls: true, client_ca_file: ${join(dir, 'client-ca.pem')} }
  - { name: relaxed, address: "127.0.0.1:0", protocol: tcp, tls: true, client_ca_file: ${join(dir, 'client-ca.pem')}, client_auth: optional }
  - { name: plain, address: "127.0.0.1:0", protocol: tcp, tls: true }
tcp_routes:
  - { name: mtls, listeners: [strict, relaxed], upstreams: ["127.0.0.2:${a.port}"], proxy_protocol: v2 }
  - { name: terminated, listeners: [plain], sni: [tcp.test], upstreams: ["127.0.0.3:${b.port}"] }
`
  })
  t.teardown(() => p.stop('SIGKILL'))
  const valid = { cert: good.cert, key: good.key }
  t.match(await tlsExchange(p.ports.strict!, valid, 'hi'), /^A:[^]*hi$/, 'a valid client certificate is let through (the echo includes the PROXY header)')
  const header = decodeProxyHeader(a.received[0]!)
  if (header.kind !== 'header') throw new Error(`no PROXY v2 header: ${header.kind}`)
  t.ok(a.received[0]!.subarray(0, 12).equals(V2_SIG), 'v2 signature')
  t.equal(header.source?.address, '127.0.0.1', 'client address in the header')
  const ssl = header.tlvs.find(x => x.type === PP2_TYPE_SSL)
  t.ok(ssl?.value.includes(Buffer.from('CN=client-1')), 'PP2_TYPE_SSL carries the verified subject')
  t.equal(ssl?.value.readUInt32BE(1), 0, 'verify field: 0 = verified')
  t.match(header.tlvs.find(x => x.type === PP2_TYPE_PORTICO_FINGERPRINT)?.value.toString(), /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/, 'SHA-256 fingerprint TLV')
  t.equal(a.received[0]!.subarray(header.length).toString(), 'hi', 'then the client bytes')

  const missing = await tlsExchange(p.ports.strict!, {}, 'hi')
  t.notMatch(missing, /^A:/, `no certificate: refused (${missing})`)
  const wrong = await tlsExchange(p.ports.strict!, { cert: other.cert, key: other.key }, 'hi')
  t.notMatch(wrong, /^A:/, `certificate from another CA: refused (${wrong})`)
  t.equal(a.connections, 1, 'the upstream never saw the refused clients')
  const refused = await p.waitForLog(l => l.msg === 'tcp connection' && (l.tcp as { error: string | null }).error !== null)
  t.match(refused.tcp, { listener: 'strict', route: null, upstream: null })

  t.match(await tlsExchange(p.ports.relaxed!, {}, 'hi'), /^A:[^]*hi$/, 'optional: no certificate is let through')
  const relaxed = decodeProxyHeader(a.received[1]!)
  if (relaxed.kind !== 'header') throw new Error('no header')
  const noCert = relaxed.tlvs.find(x => x.type === PP2_TYPE_SSL)
  t.equal(noCert?.value[0], 0x01, 'PP2_CLIENT_SSL without PP2_CLIENT_CERT_CONN')
  t.notOk(noCert?.value.includes(Buffer.from('CN=')), 'no subject')

  t.equal(await tlsExchange(p.ports.plain!, {}, 'plain'), 'B:plain', 'termination without client certificates')
  t.equal(b.received[0]!.toString(), 'plain', 'the upstream gets cleartext and no PROXY header (not asked)')
  const served = await new Promise<string | undefined>(resolve => {
    const s = tls.connect({ host: '127.0.0.1', port: p.ports.plain!, servername: 'tcp.test', rejectUnauthorized: false }, () => { resolve(s.getPeerX509Certificate()?.subjectAltName); s.destroy() })
    s.on('error', () => resolve(undefined))
  })
  t.equal(served, 'DNS:tcp.test', 'portico\'s certificate')

  // A changed CA file applies to new handshakes after a reload, without a rebind (as on HTTPS listeners).
  await writeFile(join(dir, 'client-ca.pem'), other.caCert)
  p.child.kill('SIGHUP')
  await p.waitForLog(l => l.msg === 'config reloaded')
  t.match(await tlsExchange(p.ports.strict!, { cert: other.cert, key: other.key }, 'new'), /^A:[^]*new$/, 'after the reload the new CA\'s clients get in')
  t.notMatch(await tlsExchange(p.ports.strict!, valid, 'old'), /^A:/, 'and the old CA\'s are refused')
})

/** Malformed or hostile PROXY headers from a trusted source: each is closed before any upstream connect. */
const BAD_HEADERS: Array<[string, Buffer]> = [
  ['garbage', Buffer.from('GET / HTTP/1.1\r\n\r\n')],
  ['v1 without CRLF', Buffer.from('PROXY TCP4 192.0.2.7 127.0.0.1 5555 443\n')],
  ['v1 wrong family', Buffer.from('PROXY TCP4 ::1 ::1 5555 443\r\n')],
  ['v1 port out of range', Buffer.from('PROXY TCP4 192.0.2.7 127.0.0.1 70000 443\r\n')],
  ['v1 bad address', Buffer.from('PROXY TCP4 192.0.2.999 127.0.0.1 5555 443\r\n')],
  ['v1 too long', Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)],
  ['v1 lowercase', Buffer.from('proxy TCP4 192.0.2.7 127.0.0.1 5555 443\r\n')],
  ['v2 bad signature', Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540b', 'hex'), Buffer.from([0x21, 0x11, 0, 12]), Buffer.alloc(12)])],
  ['v2 version 3', Buffer.concat([V2_SIG, Buffer.from([0x31, 0x11, 0, 12]), Buffer.alloc(12)])],
  ['v2 unknown command', Buffer.concat([V2_SIG, Buffer.from([0x2f, 0x11, 0, 12]), Buffer.alloc(12)])],
  ['v2 UDP family', Buffer.concat([V2_SIG, Buffer.from([0x21, 0x12, 0, 12]), Buffer.alloc(12)])],
  ['v2 short addresses', Buffer.concat([V2_SIG, Buffer.from([0x21, 0x11, 0, 8]), Buffer.alloc(8)])],
  ['v2 oversized', Buffer.concat([V2_SIG, Buffer.from([0x21, 0x11, 0xff, 0xff]), Buffer.alloc(64)])],
  ['v2 broken TLV', Buffer.concat([V2_SIG, Buffer.from([0x21, 0x11, 0, 16]), Buffer.alloc(12), Buffer.from([0x20, 0, 9, 0])])]
]

t.test('PROXY protocol accepted from trusted balancers only, required, strict; passed on as v1', async t => {
  const a = await tcpEcho(t, '127.0.0.2', 'A')
  const p = await startPortico({
    config: `
state_dir: \${STATE}
admin: null
log: { level: info, access: true }
trusted_proxies: [127.0.0.1/32]
listeners: [{ name: lb, address: "127.0.0.1:0", protocol: tcp, accept_proxy_protocol: true, handshake_timeout: 1s }]
tcp_routes: [{ name: behind-lb, listeners: [lb], upstreams: ["127.0.0.2:${a.port}"], proxy_protocol: v1 }]
`
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.lb!
  const v1 = await connectTcp(port)
  v1.write('PROXY TCP4 192.0.2.7 127.0.0.1 5555 443\r\nhello')
  await until('hello at the upstream', async () => a.received[0]?.includes('hello') === true ? true : undefined)
  t.equal(a.received[0]!.toString(), 'PROXY TCP4 192.0.2.7 127.0.0.1 5555 443\r\nhello', 'the balancer\'s client is passed on')
  v1.end()
  t.match((await p.waitForLog(l => l.msg === 'tcp connection')).tcp, { client: '192.0.2.7', client_port: 5555, route: 'behind-lb', error: null })

  const v2body = Buffer.concat([Buffer.from([198, 51, 100, 9, 127, 0, 0, 1]), Buffer.from([0x1f, 0x90, 0x01, 0xbb])])
  const v2 = await connectTcp(port)
  v2.write(Buffer.concat([V2_SIG, Buffer.from([0x21, 0x11, 0, 12]), v2body, Buffer.from('v2')]))
  await until('v2 at the upstream', async () => a.received[1]?.includes('v2') === true ? true : undefined)
  t.equal(a.received[1]!.toString(), 'PROXY TCP4 198.51.100.9 127.0.0.1 8080 443\r\nv2', 'v2 in, v1 out')
  v2.end()

  const before = a.connections
  for (const [name, bytes] of BAD_HEADERS) {
    const s = await connectTcp(port)
    s.write(bytes)
    t.ok(await closedWithin(s, 3000) < 3000, `${name}: closed`)
  }
  const silent = await connectTcp(port)
  t.ok(await closedWithin(silent, 4000) < 4000, 'no header at all: closed after handshake_timeout')
  const untrusted = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.5' }, () => resolve(s))
    s.once('error', reject)
  })
  untrusted.write('PROXY TCP4 192.0.2.7 127.0.0.1 5555 443\r\nhello')
  t.ok(await closedWithin(untrusted, 3000) < 3000, 'a header from outside trusted_proxies: closed')
  t.equal(a.connections, before, 'no refused connection reached the upstream')
  t.match((await p.waitForLog(l => l.msg === 'tcp connection' && (l.tcp as { client: string }).client === '127.0.0.5')).tcp, { error: 'PROXY protocol expected from trusted_proxies only' })
})
