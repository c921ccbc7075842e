import t from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { freePort, makeTempDir, runCli } from '../helpers/portico.js'
import { ensureSelfSigned } from '../../src/tls/index.js'
import { makePki } from '../helpers/pki.js'
import { writeCertificate } from '../../src/acme/index.js'

t.test('certs: a missing certificate file and a broken ACME pair exit 1 with the reasons; the self-signed certificate served is listed', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const state = join(dir, 'state')
  const pki = makePki(['a.test'])
  await writeCertificate(state, 'a.test', pki.cert + pki.caCert, pki.key)
  await writeFile(join(state, 'live', 'a.test', 'privkey.pem'), makePki(['b.test']).key)
  const config = join(dir, 'portico.yaml')
  await writeFile(config, `
state_dir: ${state}
listeners: [{ name: https, address: "127.0.0.1:0", tls: true }]
dns: { address: "127.0.0.1:0" }
tls:
  certificates: [{ cert_file: ${join(dir, 'missing.pem')}, key_file: ${join(dir, 'missing.key')} }]
  self_signed: { names: [localhost] }
acme:
  directory: https://127.0.0.1:9/dir
  email: ops@example.org
  certificates: [{ name: a.test, domains: [a.test] }]
`)
  // The self-signed certificate as the daemon generates it at start.
  await ensureSelfSigned(state, ['localhost'])
  const r = await runCli(['certs', '--config', config])
  t.equal(r.code, 1, 'exit 1: certificates cannot be served as configured')
  t.match(r.stderr, /portico certs: cannot read certificate \S*missing\.pem/, 'the missing file, with its path')
  t.match(r.stderr, /portico certs: a\.test: a\.test: the private key does not match the certificate/, 'the broken ACME pair')
  t.notMatch(r.stdout, /ENOENT/, 'no error text in the issuer column')
  t.match(r.stdout, /\S*missing\.pem\s+-\s+INVALID \(see below\)/)
  t.match(r.stdout, /self-signed\/cert\.pem\s+localhost\s+localhost\s+\S+Z\s+\d+\s+\(at start\)\s+-\s+self-signed/, 'the self-signed certificate served is a row')
})

t.test('renew with the daemon down names the admin address it tried', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const port = await freePort()
  const config = join(dir, 'portico.yaml')
  await writeFile(config, `
state_dir: ${join(dir, 'state')}
admin: { address: "127.0.0.1:${port}" }
listeners: [{ name: http, address: "127.0.0.1:0" }]
acme:
  directory: https://127.0.0.1:9/dir
  email: ops@example.org
  certificates: [{ name: a.test, domains: [a.test], challenge: http-01 }]
`)
  const r = await runCli(['renew', '--config', config, 'a.test'])
  t.equal(r.code, 1)
  t.match(r.stderr, `cannot reach the portico daemon's admin API at http://127.0.0.1:${port}`)
  t.match(r.stderr, /ECONNREFUSED; is portico running\?/)
})
