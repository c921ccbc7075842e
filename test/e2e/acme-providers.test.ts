import t, { type Test } from 'tap'
import http from 'node:http'
import tls from 'node:tls'
import { readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { freePort, makeTempDir, OK_ROUTES, startPortico, testConfig, type Portico } from '../helpers/portico.js'
import { serve } from '../helpers/upstreams.js'
import { acmeConfig, startChallTestSrv, startPebble } from '../helpers/pebble.js'
import { startNamed, startResolver } from '../helpers/named.js'
import { requires } from '../helpers/required.js'
import { queryTxt } from '../../src/acme/index.js'

async function peer (port: number, servername: string): Promise<{ issuer: string, serial: string }> {
  return await new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const c = s.getPeerX509Certificate()
      resolve({ issuer: c?.issuer ?? '', serial: c?.serialNumber ?? '' })
      s.end()
    })
    s.on('error', reject)
  })
}
const issuerOf = async (port: number, servername: string): Promise<string> => (await peer(port, servername)).issuer

/** Waits for the automatic renewal of a short-lived certificate and checks it was swapped in. */
async function expectRenewal (t: Test, p: Portico, port: number, name: string, servername: string): Promise<void> {
  const before = await peer(port, servername)
  const from = p.logs.length
  await p.waitForLog(l => l.msg === 'config reloaded' && l.reason === `certificate issued: ${name}`, 90_000, from)
  const after = await peer(port, servername)
  t.match(after.issuer, /Pebble/)
  t.not(after.serial, before.serial, `${name} renewed and hot-swapped`)
}

/** An HTTPS listener on `httpsPort` answering "ok", certificates from Pebble; `extra` more top-level YAML. */
const portico = (httpsPort: number, pebble: { directory: string, caFile: string }, providers: string, certificates: string, extra = ''): string => testConfig({
  access: true,
  listeners: [{ name: 'https', tls: true, port: httpsPort }],
  extra: `${extra}\n${acmeConfig(pebble, certificates, providers)}`,
  routes: OK_ROUTES
})

t.test('RFC 2136 dynamic update with TSIG against a real bind9', requires('command:pebble', 'command:named'), async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const named = await startNamed(dir, 'rfc.test')
  t.teardown(named.stop)
  // 30-second certificates: renewal is due 20 s after issuance.
  const pebble = await startPebble(dir, { dnsServer: named.server, httpPort: await freePort(), validitySeconds: 30 })
  t.teardown(pebble.stop)
  const httpsPort = await freePort()
  const p = await startPortico({
    dir,
    config: portico(httpsPort, pebble, `  rfc2136: { server: "${named.server}", zone: rfc.test, key_name: ${named.keyName}, key_secret_file: ${named.secretFile} }`,
      '    - { name: rfc.test, domains: ["*.rfc.test", rfc.test], provider: rfc2136 }')
  })
  t.teardown(() => p.stop('SIGKILL'))
  await p.waitForLog(l => l.msg === 'config reloaded' && String(l.reason) === 'certificate issued: rfc.test', 60_000)
  t.match(await issuerOf(httpsPort, 'a.rfc.test'), /Pebble/, 'wildcard issued through bind9')
  t.same(await queryTxt(named.server, '_acme-challenge.rfc.test'), [], 'TXT records cleaned up afterwards')
  await expectRenewal(t, p, httpsPort, 'rfc.test', 'a.rfc.test')
})

t.test('Cloudflare API (a local fake that records calls) and the exec hook', requires('command:pebble', 'command:pebble-challtestsrv', 'command:curl'), async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const dns = await startChallTestSrv()
  t.teardown(dns.stop)
  // The one place a fake is right: no real Cloudflare here. It publishes into challtestsrv.
  const calls: string[] = []
  const records = new Map<string, { name: string, content: string }>()
  let nextId = 1
  const cf = http.createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => { body += d.toString() })
    req.on('end', () => {
      void (async () => {
        calls.push(`${req.method} ${req.url}`)
        const reply = (status: number, result: unknown): void => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify({ success: status < 300, errors: [], result })) }
        if (req.headers.authorization !== 'Bearer cf-secret-token') { reply(403, null); return }
        const url = new URL(req.url ?? '/', 'http://x')
        if (url.pathname === '/zones') { reply(200, url.searchParams.get('name') === 'cf.test' ? [{ id: 'zone1' }] : []); return }
        if (req.method === 'POST') {
          const r = JSON.parse(body) as { name: string, content: string }
          const id = String(nextId++)
          records.set(id, r)
          await fetch(`${dns.api}/set-txt`, { method: 'POST', body: JSON.stringify({ host: `${r.name}.`, value: r.content }) })
          reply(200, { id })
          return
        }
        if (req.method === 'GET') { reply(200, [...records.entries()].filter(([, r]) => r.name === url.searchParams.get('name') && r.content === url.searchParams.get('content')).map(([id]) => ({ id }))); return }
        if (req.method === 'DELETE') {
          const id = url.pathname.split('/').pop() ?? ''
          const r = records.get(id)
          records.delete(id)
          if (r !== undefined) await fetch(`${dns.api}/clear-txt`, { method: 'POST', body: JSON.stringify({ host: `${r.name}.` }) })
          reply(200, { id })
          return
        }
        reply(404, null)
      })()
    })
  })
  const cfApi = await serve(t, cf, '127.0.0.1')
  await writeFile(join(dir, 'cf.token'), 'cf-secret-token\n')
  const pebble = await startPebble(dir, { dnsServer: dns.dns, httpPort: await freePort(), validitySeconds: 30 })
  t.teardown(pebble.stop)
  const httpsPort = await freePort()
  const hookLog = join(dir, 'hook.log')
  const p = await startPortico({
    dir,
    env: { CHALLTESTSRV: dns.api, HOOK_LOG: hookLog },
    config: portico(httpsPort, pebble, `  cloudflare: { token_file: cf.token, api_url: "${cfApi.origin}" }
  exec: { command: ${resolve(import.meta.dirname, '../fixtures/exec-hook.sh')} }`,
    '    - { name: cf.test, domains: ["*.cf.test", cf.test], provider: cloudflare }\n    - { name: exec.test, domains: [exec.test], provider: exec }')
  })
  t.teardown(() => p.stop('SIGKILL'))
  for (const name of ['cf.test', 'exec.test']) await p.waitForLog(l => l.msg === 'config reloaded' && l.reason === `certificate issued: ${name}`, 90_000)
  for (let i = 0; i < 100 && records.size > 0; i++) await new Promise(resolve => setTimeout(resolve, 50))
  t.match(await issuerOf(httpsPort, 'x.cf.test'), /Pebble/, 'wildcard issued via the Cloudflare provider')
  t.match(await issuerOf(httpsPort, 'exec.test'), /Pebble/, 'issued via the exec hook')
  t.ok(calls.filter(c => c.startsWith('POST /zones/zone1/dns_records')).length === 2, 'two TXT records created (wildcard and apex)')
  t.equal(calls.filter(c => c.startsWith('DELETE /zones/zone1/dns_records/')).length, 2, `and both deleted: ${calls.join(' | ')}`)
  t.equal(records.size, 0)
  const hook = (await readFile(hookLog, 'utf8')).trim().split('\n')
  t.match(hook[0], /^present _acme-challenge\.exec\.test\. \S+$/, 'lego-style present call')
  t.match(hook[1], /^cleanup _acme-challenge\.exec\.test\. \S+$/)
  await Promise.all([expectRenewal(t, p, httpsPort, 'cf.test', 'x.cf.test'), expectRenewal(t, p, httpsPort, 'exec.test', 'exec.test')])
})

t.test('CNAME delegation (acme-dns style): the operator\'s zone CNAMEs _acme-challenge into a zone portico answers', requires('command:pebble', 'command:named'), async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const dnsPort = await freePort()
  // The operator's DNS (bind9): alias.test with the CNAMEs, resolving acme.portico.test at portico.
  const resolver = await startResolver(dir, 'alias.test', [
    '_acme-challenge IN CNAME alias-test.acme.portico.test.',
    '_acme-challenge.www IN CNAME www-alias-test.acme.portico.test.'
  ].join('\n'), { zone: 'acme.portico.test', server: `127.0.0.1:${dnsPort}` })
  t.teardown(resolver.stop)
  const pebble = await startPebble(dir, { dnsServer: resolver.server, httpPort: await freePort() })
  t.teardown(pebble.stop)
  const httpsPort = await freePort()
  const p = await startPortico({
    dir,
    config: portico(httpsPort, pebble, '', `    - name: alias.test
      domains: ["*.alias.test", www.alias.test]
      dns_aliases: { alias.test: alias-test.acme.portico.test, www.alias.test: www-alias-test.acme.portico.test }`, `dns: { address: "127.0.0.1:${dnsPort}" }`)
  })
  t.teardown(() => p.stop('SIGKILL'))
  await p.waitForLog(l => l.msg === 'config reloaded' && l.reason === 'certificate issued: alias.test', 60_000)
  t.match(await issuerOf(httpsPort, 'x.alias.test'), /Pebble/, 'validated through the CNAMEs')
  t.ok(p.logs.some(l => l.msg === 'acme: TXT record presented' && l.fqdn === 'www-alias-test.acme.portico.test'), 'the TXT record went to the alias target')
})
