import t from 'tap'
import forge from 'node-forge'
import http from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { ariCertId, fetchRenewalWindow } from '../../src/acme/ari.js'

/** A certificate with the AKI and serial of RFC 9773's example. */
function rfcExampleCert (): string {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 1024 })
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = '0087654321'
  cert.validity.notBefore = new Date()
  cert.validity.notAfter = new Date(Date.now() + 86_400_000)
  cert.setSubject([{ name: 'commonName', value: 'ari.test' }])
  cert.setIssuer([{ name: 'commonName', value: 'ari CA' }])
  cert.setExtensions([{ name: 'authorityKeyIdentifier', keyIdentifier: forge.util.hexToBytes('69885B6B87464041E1B37B847BA0AE2CDE01C8D4') }])
  cert.sign(keys.privateKey, forge.md.sha256.create())
  return forge.pki.certificateToPem(cert)
}

t.test('ARI certificate id matches RFC 9773', async t => {
  t.equal(ariCertId(rfcExampleCert()), 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE')
})

t.test('renewal window from a directory with renewalInfo (local stand-in: Pebble in Debian has no ARI)', async t => {
  const pem = rfcExampleCert()
  const asked: string[] = []
  const server = http.createServer((req, res) => {
    asked.push(req.url ?? '')
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    if (req.url === '/dir') { res.end(JSON.stringify({ renewalInfo: `${base}/renewal-info/` })); return }
    res.writeHead(200, { 'content-type': 'application/json', 'retry-after': '21600' })
    res.end(JSON.stringify({ suggestedWindow: { start: '2026-12-01T00:00:00Z', end: '2026-12-02T00:00:00Z' } }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const w = await fetchRenewalWindow(`${base}/dir`, pem)
  t.same(w, { start: Date.parse('2026-12-01T00:00:00Z'), end: Date.parse('2026-12-02T00:00:00Z'), retryAfterMs: 21_600_000 })
  t.equal(asked[1], '/renewal-info/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE')
  const noAri = http.createServer((_req, res) => res.end(JSON.stringify({ newOrder: 'x' })))
  noAri.listen(0, '127.0.0.1')
  await once(noAri, 'listening')
  t.teardown(() => noAri.close())
  t.equal(await fetchRenewalWindow(`http://127.0.0.1:${(noAri.address() as AddressInfo).port}/dir`, pem), undefined, 'no renewalInfo: the one-third rule applies')
})
