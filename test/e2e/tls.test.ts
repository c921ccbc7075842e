import t from 'tap'
import tls from 'node:tls'
import http2 from 'node:http2'
import https from 'node:https'
import { X509Certificate } from 'node:crypto'
import { copyFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { ensureSelfSigned } from '../../src/tls/index.js'
import { makeTempDir, startPortico, testConfig } from '../helpers/portico.js'

/** The leaf certificate a TLS handshake with this SNI name returns (undefined = no SNI). */
async function servedCert (port: number, servername: string | undefined): Promise<{ subject: string, serial: string, alpn: string | false }> {
  return await new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'], ...(servername === undefined ? {} : { servername }) }, () => {
      const c = s.getPeerX509Certificate()
      resolve({ subject: c?.subjectAltName ?? '', serial: c?.serialNumber ?? '', alpn: s.alpnProtocol ?? false })
      s.end()
    })
    s.on('error', reject)
    s.setTimeout(5000, () => s.destroy(new Error('tls timeout')))
  })
}

t.test('SNI picks among certificates; h2 and h1 via ALPN; renewal swapped in', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const a = await ensureSelfSigned(join(dir, 'a'), ['a.test'])
  const b = await ensureSelfSigned(join(dir, 'b'), ['*.b.test', 'b.test'])
  t.equal(a.generated, true)
  t.equal((await ensureSelfSigned(join(dir, 'a'), ['a.test'])).generated, false, 'reused on the next run')
  const p = await startPortico({
    dir,
    config: testConfig({ access: true, listeners: [{ name: 'https', tls: true }], certs: [a, b], routes: '  - { host: "*", respond: { body: "tls-ok" } }' })
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.https!
  t.equal((await servedCert(port, 'a.test')).subject, 'DNS:a.test')
  t.equal((await servedCert(port, 'A.TEST.')).subject, 'DNS:a.test', 'case and trailing dot')
  t.equal((await servedCert(port, 'x.b.test')).subject, 'DNS:*.b.test, DNS:b.test', 'wildcard')
  t.equal((await servedCert(port, 'b.test')).subject, 'DNS:*.b.test, DNS:b.test', 'exact name on the wildcard cert')
  t.equal((await servedCert(port, 'y.x.b.test')).subject, 'DNS:a.test', 'two labels under a wildcard: default')
  t.equal((await servedCert(port, undefined)).subject, 'DNS:a.test', 'no SNI: default')
  t.equal((await servedCert(port, 'a.test')).alpn, 'h2')

  // HTTP/2 request
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, servername: 'a.test' })
  t.teardown(() => session.close())
  const body = await new Promise<string>((resolve, reject) => {
    const req = session.request({ ':path': '/', ':authority': 'a.test' })
    let data = ''
    req.setEncoding('utf8')
    req.on('data', (d: string) => { data += d })
    req.on('end', () => resolve(data))
    req.on('error', reject)
  })
  t.equal(body, 'tls-ok', 'h2 request served')
  // HTTP/1.1 on the same listener
  const h1 = await new Promise<string>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, servername: 'a.test', headers: { host: 'a.test' }, rejectUnauthorized: false, agent: false }, res => {
      let data = ''
      res.on('data', (d: Buffer) => { data += d.toString() })
      res.on('end', () => resolve(`${res.httpVersion} ${data}`))
    }).on('error', reject)
  })
  t.equal(h1, '1.1 tls-ok')

  // Renewal: new files renamed over the old ones (as certbot/ACME do); an open connection is unaffected.
  const before = await servedCert(port, 'a.test')
  const open = tls.connect({ host: '127.0.0.1', port, servername: 'a.test', rejectUnauthorized: false })
  open.on('error', () => {})
  await new Promise(resolve => open.once('secureConnect', resolve))
  const renewed = await ensureSelfSigned(join(dir, 'renewed'), ['a.test'])
  const from = p.logs.length
  await copyFile(renewed.keyFile, `${a.keyFile}.new`)
  await copyFile(renewed.certFile, `${a.certFile}.new`)
  await rename(`${a.keyFile}.new`, a.keyFile)
  await rename(`${a.certFile}.new`, a.certFile)
  await p.waitForLog(l => l.msg === 'config reloaded' && String(l.reason).startsWith('certificate file changed'), 15_000, from)
  const after = await servedCert(port, 'a.test')
  t.not(after.serial, before.serial, 'new connections get the renewed certificate')
  t.equal(after.serial, new X509Certificate(await import('node:fs').then(fs => fs.readFileSync(renewed.certFile))).serialNumber)
  t.equal(open.destroyed, false, 'the open connection was not dropped')
  open.end()
})

t.test('mismatched key and certificate is refused with a clear error', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const a = await ensureSelfSigned(join(dir, 'a'), ['a.test'])
  const b = await ensureSelfSigned(join(dir, 'b'), ['b.test'])
  const p = await startPortico({
    dir,
    expectReady: false,
    config: testConfig({ access: true, listeners: [{ name: 'https', tls: true }], certs: [{ certFile: a.certFile, keyFile: b.keyFile }] })
  })
  t.equal((await p.exited).code, 1)
  t.match(p.stderr.join('\n'), /does not match the certificate/)
})
