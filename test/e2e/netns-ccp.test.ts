import t from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ensureSelfSigned } from '../../src/tls/index.js'
import { httpConfig, makeTempDir } from '../helpers/portico.js'
import { runInLoopbackNamespace, type NetnsRequest } from '../helpers/netns.js'
import { requires } from '../helpers/required.js'

// The CCP's SSRF guard against a hostile corpus, inside a loopback-only namespace whose `lo`
// also holds the "forbidden" addresses, each with a connection-counting listener.
const ORIGIN = 'https://exosphere.example.org'
type Case = [host: string | string[], port: string | string[] | undefined, status: number]
const corpus: Case[] = [
  // malformed → 400, before any policy or DNS work
  ['keystone.example.org:5000', '5000', 400], ['user@keystone.example.org', '5000', 400], ['keystone .example.org', '5000', 400],
  ['[::1]', '5000', 400], ['[fd00:ec2::254]', '443', 400], ['2130706433', '5000', 400], ['0177.0.0.1', '5000', 400], ['0x7f.0.0.1', '5000', 400],
  ['0x7f000001', '5000', 400], ['127.1', '5000', 400], ['017700000001', '5000', 400], ['http://keystone.example.org', '5000', 400],
  ['keystone.example.org/x', '5000', 400], ['keystone.example.org?x', '5000', 400], ['keystone.example.org#x', '5000', 400], ['', '5000', 400],
  ['..', '5000', 400], ['-bad.example.org', '5000', 400], ['a_b.example.org', '5000', 400], ['%6c%6fcalhost', '5000', 400],
  [['keystone.example.org', '127.0.0.1'], '5000', 400], ['198.51.100.10', '0', 400], ['198.51.100.10', '65536', 400], ['198.51.100.10', '5000a', 400],
  ['198.51.100.10', '-1', 400], ['198.51.100.10', '0x1388', 400], ['198.51.100.10', '05000', 400], ['198.51.100.10', ['5000', '22'], 400],
  ['fe80::1%lo', '5000', 400],
  // well-formed but forbidden → 403, no connection
  ['127.0.0.1', '5000', 403], ['127.0.0.1.', '5000', 403], ['169.254.169.254', '443', 403], ['169.254.169.254', '80', 403], ['localhost', '5000', 403],
  ['::1', '5000', 403], ['fd00:ec2::254', '443', 403], ['::ffff:169.254.169.254', '443', 403], ['::ffff:7f00:1', '5000', 403],
  ['::ffff:127.0.0.1', '5000', 403], ['::127.0.0.1', '5000', 403], ['64:ff9b::7f00:1', '5000', 403], ['2002:7f00:1::', '5000', 403],
  ['0.0.0.0', '5000', 403], ['10.0.0.5', '5000', 403], ['203.0.113.7', '5000', 403], ['evil.com', '5000', 403],
  ['keystone.example.org.evil.com', '5000', 403], ['198.51.100.10', '22', 403], ['224.0.0.1', '5000', 403], ['255.255.255.255', '5000', 403],
  ['198.51.100.10', '8080', 403]
]
const allowed: Case[] = [['198.51.100.10', '5000', 200], ['198.51.100.10.', '5000', 200], ['198.51.100.10', undefined, 200]]

function request (c: Case): NetnsRequest {
  const headers: Record<string, string> = { origin: ORIGIN }
  const lines: string[] = []
  for (const h of [c[0]].flat()) lines.push(`exo-proxy-orig-host: ${h}`)
  for (const p of c[1] === undefined ? [] : [c[1]].flat()) lines.push(`exo-proxy-orig-port: ${p}`)
  // Repeated header lines go through the raw request: encode them in one "header" whose value
  // carries the extra lines (the runner writes headers verbatim).
  const [first, ...rest] = lines
  headers[first!.slice(0, first!.indexOf(':'))] = first!.slice(first!.indexOf(':') + 2) + rest.map(l => `\r\n${l}`).join('')
  return { host: 'ccp.example.org', path: '/proxy/v3/auth/tokens?nocatalog', headers }
}

t.test('CCP SSRF corpus in a loopback-only namespace', requires('root', 'command:unshare', 'command:ip'), async t => {
  t.ok(corpus.length >= 40, `${corpus.length} hostile inputs`)
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const cert = await ensureSelfSigned(join(dir, 'api'), ['198.51.100.10'])
  const tls = { cert: await readFile(cert.certFile, 'utf8'), key: await readFile(cert.keyFile, 'utf8') }
  const forbidden = [
    { host: '127.0.0.1', port: 5000 }, { host: '127.0.0.1', port: 443 }, { host: '169.254.169.254', port: 80 }, { host: '169.254.169.254', port: 443 },
    { host: '::1', port: 5000 }, { host: 'fd00:ec2::254', port: 443 }, { host: '10.0.0.5', port: 5000 }, { host: '203.0.113.7', port: 5000 },
    { host: '198.51.100.10', port: 22 }, { host: '198.51.100.10', port: 8080 }
  ]
  const cases = [...corpus, ...allowed]
  const r = await runInLoopbackNamespace({
    addresses: ['169.254.169.254', '10.0.0.5', '203.0.113.7', '198.51.100.10', 'fd00:ec2::254'],
    listeners: [...forbidden, { host: '198.51.100.10', port: 5000, tls }, { host: '198.51.100.10', port: 443, tls }],
    config: httpConfig(`
  - name: ccp
    host: ccp.example.org
    cors: { preset: openstack, origins: ["${ORIGIN}"], credentials: true }
    cors_proxy:
      hosts: ["*.example.org", localhost]
      networks: [198.51.100.0/24]
      ports: [5000, 443]
      tls: { verify: false }`),
    requests: cases.map(request)
  })
  cases.forEach((c, i) => {
    const res = r.results[i]!
    t.equal(res.status, c[2], `${JSON.stringify(c[0])} port ${JSON.stringify(c[1])} -> ${c[2]} (${res.body.split('\n')[0]})`)
    if (res.status !== 0) t.equal(res.headers['access-control-allow-origin'], ORIGIN, 'CORS headers on the answer')
  })
  t.match(JSON.parse(r.results[cases.length - 3]!.body), { served_by: '198.51.100.10:5000', url: '/v3/auth/tokens?nocatalog', host: '198.51.100.10:5000' })
  t.match(JSON.parse(r.results[cases.length - 1]!.body), { served_by: '198.51.100.10:443', host: '198.51.100.10' })
  for (const f of forbidden) t.equal(r.connections[`${f.host}:${f.port}`], 0, `no connection to ${f.host}:${f.port}`)
})
