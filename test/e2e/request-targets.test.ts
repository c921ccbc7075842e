import t, { type Test } from 'tap'
import https from 'node:https'
import { writeFile } from 'node:fs/promises'
import { httpConfig, startPortico, testConfig } from '../helpers/portico.js'
import { httpUpstream } from '../helpers/upstreams.js'
import { figure } from '../helpers/figures.js'
import { rawExchange } from '../helpers/raw-socket.js'

/** An upstream answering its name that records what it received: request target and Host. */
async function recorder (t: Test, name: string): Promise<{ port: number, seen: Array<{ url: string, host: string }> }> {
  const seen: Array<{ url: string, host: string }> = []
  const { port } = await httpUpstream(t, (req, res) => { seen.push({ url: req.url ?? '', host: req.headers.host ?? '' }); req.resume(); res.end(name) })
  return { port, seen }
}

t.test('paths are forwarded as received; absolute-form targets route by their own authority', async t => {
  const a = await recorder(t, 'A')
  const b = await recorder(t, 'B')
  const p = await startPortico({
    config: httpConfig(`  - { name: b, host: b.test, proxy: { upstreams: ["http://127.0.0.2:${b.port}"] } }
  - { name: a, host: a.test, proxy: { upstreams: ["http://127.0.0.2:${a.port}"] } }`)
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.http!

  const paths = ['/%2e%2e/%2e%2e/etc/passwd', '//double//slash', '/a/../b', '/a/./b', '/%2F%2f', '/?q=%00&x=..%2F', '/a;b=c', '/~user/%7e', '/..', '/.%2e/']
  for (const path of paths) {
    a.seen.length = 0
    const reply = (await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n`, 1000)).text
    t.match(reply, /^HTTP\/1\.1 200 /, `${path}: served`)
    t.same(a.seen.map(s => s.url), [path], `${path}: the upstream got it byte for byte`)
  }

  b.seen.length = 0
  a.seen.length = 0
  const abs = (await rawExchange(port, 'GET http://b.test/x?y=1 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n', 1000)).text
  t.match(abs, /\r\n\r\nB$/, 'absolute-form: routed by its authority (b.test), not the Host header')
  t.same(b.seen, [{ url: '/x?y=1', host: 'b.test' }], 'and forwarded in origin-form with Host b.test')
  t.same(a.seen, [], 'nothing reached the Host header\'s route')
  b.seen.length = 0

  for (const [what, head] of [
    ['asterisk-form', 'OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n'],
    ['userinfo in absolute-form', 'GET http://user@b.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n'],
    ['other scheme', 'GET ftp://b.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n'],
    ['authority-form without CONNECT', 'GET b.test:80 HTTP/1.1\r\nHost: a.test\r\n\r\n']
  ] as const) {
    const reply = (await rawExchange(port, head, 1000)).text
    t.match(reply, /^HTTP\/1\.1 400 /, `${what}: 400`)
  }
  const connect = (await rawExchange(port, 'CONNECT b.test:443 HTTP/1.1\r\nHost: b.test:443\r\n\r\n', 1000)).text
  t.notMatch(connect, /^HTTP\/1\.1 200/, 'CONNECT is not tunnelled')
  t.same([...a.seen, ...b.seen], [], 'none of the refused targets reached an upstream')
  figure({ case: 'request targets', tried: `${paths.length} traversal/encoding paths; absolute-form with a different Host; asterisk-, authority-form, userinfo, other scheme, CONNECT`, count: paths.length + 6, result: 'paths forwarded byte for byte; absolute-form routed by its own authority and forwarded in origin-form; the rest 400 (CONNECT closed), nothing forwarded' })
})

t.test('tls.strict_sni_host: Host must match the SNI name (421), off by default', async t => {
  const config = (strict: boolean): string => testConfig({
    listeners: [{ name: 'https', tls: true }],
    selfSigned: ['a.test', 'b.test'],
    tls: `strict_sni_host: ${strict}`,
    routes: '  - { name: any, respond: { status: 200, body: "ok" } }'
  })
  const p = await startPortico({ config: config(true) })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.https!
  const get = async (servername: string | undefined, host: string): Promise<number> => await new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false, rejectUnauthorized: false, ...(servername === undefined ? {} : { servername }) }, res => { res.resume(); resolve(res.statusCode ?? 0) }).on('error', reject)
  })
  t.equal(await get('a.test', 'a.test'), 200, 'SNI a.test, Host a.test: served')
  t.equal(await get('a.test', 'A.TEST:443'), 200, 'case and port do not matter')
  t.equal(await get('a.test', 'b.test'), 421, 'SNI a.test, Host b.test: 421 Misdirected Request')
  t.equal(await get(undefined, 'b.test'), 200, 'no SNI (an IP-literal client): not checked')
  await writeFile(p.configFile, config(false))
  await p.waitForLog(l => l.msg === 'config reloaded', 10_000)
  t.equal(await get('a.test', 'b.test'), 200, 'strict_sni_host: false (the default) lets it through')
  figure({ case: 'SNI vs Host', tried: 'tls.strict_sni_host: SNI a.test with Host a.test, A.TEST:443, b.test; no SNI; then the policy off', count: 5, result: 'mismatch → 421, matches and no-SNI served, off → served' })
})
