import t from 'tap'
import { compileClientCertHeaders, forwardFacts, upstreamRequestHeaders, type ClientCert } from '../../src/router/index.js'
import { configProblems } from '../helpers/config-problems.js'

/** Issue 24: the pure parts of client certificates and PROXY protocol on HTTP listeners. */

const names = compileClientCertHeaders({ subject: 'X-Client-Cert-Subject', fingerprint: 'X-Client-Cert-Fingerprint', verify: 'X-Client-Cert-Verify' })
const verified: ClientCert = { verify: 'SUCCESS', verified: true, subject: 'CN=alice', fingerprint: 'AB:CD', version: 'TLSv1.3' }
const failed: ClientCert = { verify: 'FAILED:UNABLE_TO_GET_ISSUER_CERT_LOCALLY', verified: false, subject: 'CN=mallory', fingerprint: 'EF:01', version: 'TLSv1.3' }
const forged = ['Host', 'a.test', 'X-CLIENT-CERT-SUBJECT', 'CN=admin', 'x-client-cert-verify', 'SUCCESS', 'X-Client-Cert-Fingerprint', '00', 'Accept', '*/*']

const fields = (out: string[]): Record<string, string[]> => {
  const r: Record<string, string[]> = {}
  for (let i = 0; i < out.length; i += 2) (r[(out[i] as string).toLowerCase()] ??= []).push(out[i + 1] as string)
  return r
}

t.test('identity fields: forged ones always dropped; subject and fingerprint only when verified', async t => {
  const plain = fields(upstreamRequestHeaders(forged, forwardFacts('192.0.2.1', 'https', 'a.test', 'r1', undefined, false, names), undefined))
  t.same([plain['x-client-cert-subject'], plain['x-client-cert-verify'], plain['x-client-cert-fingerprint']], [undefined, undefined, undefined], 'a listener without client certificates: stripped, nothing added')
  t.same(plain.accept, ['*/*'], 'other fields kept')
  const ok = fields(upstreamRequestHeaders(forged, forwardFacts('192.0.2.1', 'https', 'a.test', 'r1', undefined, false, names, verified), undefined))
  t.same(ok['x-client-cert-subject'], ['CN=alice'], 'exactly one subject: the verified one')
  t.same(ok['x-client-cert-fingerprint'], ['AB:CD'])
  t.same(ok['x-client-cert-verify'], ['SUCCESS'])
  const bad = fields(upstreamRequestHeaders(forged, forwardFacts('192.0.2.1', 'https', 'a.test', 'r1', undefined, false, names, failed), undefined))
  t.same(bad['x-client-cert-verify'], ['FAILED:UNABLE_TO_GET_ISSUER_CERT_LOCALLY'])
  t.equal(bad['x-client-cert-subject'], undefined, 'an unverified subject is not passed on')
  t.equal(bad['x-client-cert-fingerprint'], undefined)
  const custom = compileClientCertHeaders({ subject: 'SSL-Client-DN', fingerprint: 'SSL-Client-FP', verify: 'SSL-Client-Verify' })
  const c = fields(upstreamRequestHeaders([...forged, 'ssl-client-dn', 'CN=root'], forwardFacts('192.0.2.1', 'https', 'a.test', 'r1', undefined, false, custom, verified), undefined))
  t.same(c['ssl-client-dn'], ['CN=alice'], 'configured names: the forged one dropped, the verified one added')
  t.same(c['x-client-cert-subject'], ['CN=admin'], 'the default names are ordinary fields then')
})

t.test('config: PROXY protocol and client certificates on HTTP listeners; client_auth_headers checked', async t => {
  const base = 'state_dir: st\ntls: { self_signed: { names: [a.test] } }\nroutes: [{ host: "*", respond: {} }]\n'
  const headers = (h: string): string => configProblems(`state_dir: st\nlisteners: [{ name: a, address: "127.0.0.1:0" }]\nroutes: [{ host: "*", respond: {} }]\ntls: { client_auth_headers: ${h} }\n`).join('\n')
  t.same(configProblems(`${base}listeners: [{ name: a, address: "127.0.0.1:0", accept_proxy_protocol: true }]\n`), [], 'PROXY protocol on an HTTP listener')
  t.same(configProblems(`${base}listeners: [{ name: a, address: "127.0.0.1:0", tls: true, accept_proxy_protocol: true, client_ca_file: /etc/ca.pem, client_auth: optional }]\n`), [], 'both on an HTTPS listener')
  t.match(configProblems(`${base}listeners: [{ name: a, address: "127.0.0.1:0", client_ca_file: /etc/ca.pem }]\n`).join('\n'), /client_ca_file: client certificates need a TLS-terminating listener/)
  t.match(headers('{ subject: X-Forwarded-For }'), /client_auth_headers\.subject: x-forwarded-for is a header portico sets itself/)
  t.match(headers('{ subject: X-Id, verify: x-id }'), /client_auth_headers\.verify: x-id is used twice/)
  t.match(headers('{ subject: "bad name" }'), /client_auth_headers\.subject: expected a header name/)
})
