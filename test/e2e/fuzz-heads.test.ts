import t from 'tap'
import fc from 'fast-check'
import { httpConfig, startPortico, type Portico } from '../helpers/portico.js'
import { httpUpstream } from '../helpers/upstreams.js'
import { send } from '../helpers/http.js'
import { until } from '../helpers/wait.js'
import { figure, scaled } from '../helpers/figures.js'
import { rawExchange } from '../helpers/raw-socket.js'

/**
 * Raw-socket fuzzing of request heads: a fixed number of generated heads (seeded, so a failure
 * reproduces) against a proxy route and a UAP route. Every connection must end with an HTTP
 * answer or a close in bounded time, portico must keep serving, and no connection may linger.
 */
const CASES = scaled(400)
const SEED = 20261122

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/)
const junk = fc.string({ unit: fc.constantFrom(...'aZ09 \t:;/\\%."\'<>{}()[]@,=?&#~\r\n\u0000\u0001\u007f\u00ff\u2028'.split('')), maxLength: 40 })
const method = fc.oneof(fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'CONNECT', 'TRACE', 'PRI'), token, junk)
const target = fc.oneof(
  fc.constantFrom('/', '*', '/%2e%2e/%2e%2e/etc/passwd', '//double', '/a/../b', 'http://evil.test/', 'evil.test:443', '/?q=%00', '/\u00ff'),
  fc.webPath(), junk
)
const version = fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.1 ', 'http/1.1', 'HTTP/9.9', '')
const host = fc.oneof(
  fc.constantFrom('a.test', 'http-127-0-0-1-1.uap.test', 'http-10-0-0-1-22.uap.test', 'http-127-0-0-1-99999.uap.test', '', '[::1]', 'a.test:99999', 'a..test', 'A.TEST.'),
  fc.domain(), junk
)
const header = fc.oneof(
  fc.tuple(token, junk).map(([k, v]) => `${k}: ${v}`),
  fc.constantFrom('Content-Length: 5', 'Content-Length: -1', 'Content-Length: 99999999999999999999', 'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip', 'Connection: upgrade', 'Upgrade: websocket', 'Expect: 100-continue', 'Origin: null'),
  junk
)
const eol = fc.constantFrom('\r\n', '\n', '\r')
const head = fc.record({ method, target, version, host, headers: fc.array(header, { maxLength: 8 }), eol, body: fc.oneof(fc.constant(''), junk), cut: fc.option(fc.nat({ max: 200 }), { nil: undefined }) })
  .map(h => {
    const text = `${h.method} ${h.target} ${h.version}${h.eol}Host: ${h.host}${h.eol}${h.headers.map(x => x + h.eol).join('')}${h.eol}${h.body}`
    return h.cut === undefined ? text : text.slice(0, h.cut)
  })

t.test(`${CASES} fuzzed request heads over raw sockets: no crash, no stuck connection`, async t => {
  const seen: string[] = []
  const { port: appPort } = await httpUpstream(t, (req, res) => { seen.push(req.url ?? ''); req.resume(); req.on('end', () => res.end('app')) }, '127.0.0.1')
  const p: Portico = await startPortico({
    config: httpConfig(`  - name: uap
    uap: { domain: uap.test, allow: [127.0.0.0/8], ports: ["${appPort}"] }
  - name: app
    proxy: { upstreams: ["http://127.0.0.1:${appPort}"], timeouts: { headers: 1s } }`, 'limits: { header_timeout: 1s, request_timeout: 2s }').replace('admin: null', 'admin: { address: "127.0.0.1:0" }')
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.http!
  const heads = fc.sample(head, { numRuns: CASES, seed: SEED })
  const tally = { answered: 0, closed: 0, silent: 0 }
  for (let i = 0; i < heads.length; i += 20) {
    const batch = await Promise.all(heads.slice(i, i + 20).map(async h => {
      const r = await rawExchange(port, h, 300)
      return r.text !== '' ? 'answered' : r.closedAfterMs !== undefined ? 'closed' : 'silent'
    }))
    for (const r of batch) tally[r]++
  }
  t.comment(`outcomes: ${JSON.stringify(tally)} (silent = still waiting for more bytes when the client gave up; the server's timeouts close those)`)
  t.equal(tally.answered + tally.closed + tally.silent, CASES)
  t.equal(p.child.exitCode, null, 'portico is still running')
  t.equal((await send(port, 'a.test')).status, 200, 'and serves a normal request')
  await until('no client connection left', async () => {
    const m = await (await fetch(`${p.adminUrl}/metrics`)).text()
    return Number(/^portico_connections_active (\d+)/m.exec(m)?.[1]) === 0 ? true : undefined
  }, 10_000)
  t.pass('every fuzzed connection was closed (by the client or the timeouts)')
  const bug = p.logs.find(l => String(l.msg).includes('(bug)'))
  t.equal(bug, undefined, `no uncaught exception logged: ${JSON.stringify(bug ?? null).slice(0, 2000)}`)
  t.ok(seen.every(u => !u.includes('\r') && !u.includes('\n')), 'nothing with CR/LF in the path reached the upstream')
  figure({ case: 'fuzzed request heads', tried: `fast-check generated methods, targets, versions, Host values, headers, line endings and truncations over raw sockets (seed ${SEED})`, count: CASES, result: `no crash; ${tally.answered} answered, ${tally.closed} closed, ${tally.silent} left waiting and closed by the timeouts; 0 connections left open` })
})
