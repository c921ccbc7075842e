import t from 'tap'
import { httpConfig, startPortico } from '../helpers/portico.js'
import { httpUpstream } from '../helpers/upstreams.js'
import { figure } from '../helpers/figures.js'
import { rawExchange } from '../helpers/raw-socket.js'

/**
 * Request smuggling corpus: every payload hides a second request (`/smuggled`) behind
 * ambiguous framing. portico must either reject the message (400, nothing forwarded) or
 * normalise it, so that the upstream sees exactly one request — never the hidden one.
 */
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: a.test\r\n\r\n'
const head = (lines: string[]): string => `POST /front HTTP/1.1\r\nHost: a.test\r\n${lines.map(l => `${l}\r\n`).join('')}\r\n`

const corpus: Array<{ name: string, payload: string }> = [
  { name: 'CL.TE (Content-Length and chunked)', payload: head(['Content-Length: 4', 'Transfer-Encoding: chunked']) + '0\r\n\r\n' + SMUGGLED },
  { name: 'TE.CL (chunked and Content-Length)', payload: head(['Transfer-Encoding: chunked', 'Content-Length: 3']) + '8\r\nSMUGGLED\r\n0\r\n\r\n' + SMUGGLED },
  { name: 'duplicate Content-Length, different values', payload: head(['Content-Length: 0', 'Content-Length: 44']) + SMUGGLED },
  { name: 'Content-Length list', payload: head(['Content-Length: 0, 44']) + SMUGGLED },
  { name: 'Transfer-Encoding: chunked, identity', payload: head(['Transfer-Encoding: chunked, identity']) + '0\r\n\r\n' + SMUGGLED },
  { name: 'Transfer-Encoding: identity (not chunked last) with Content-Length', payload: head(['Transfer-Encoding: identity', 'Content-Length: 0']) + SMUGGLED },
  { name: 'duplicate Transfer-Encoding headers', payload: head(['Transfer-Encoding: chunked', 'Transfer-Encoding: identity']) + '0\r\n\r\n' + SMUGGLED },
  { name: 'Transfer-Encoding with a space before the colon', payload: head(['Transfer-Encoding : chunked', 'Content-Length: 0']) + '0\r\n\r\n' + SMUGGLED },
  { name: 'obfuscated Transfer-Encoding value (xchunked)', payload: head(['Transfer-Encoding: xchunked', 'Content-Length: 0']) + SMUGGLED },
  { name: 'obs-fold continuation line', payload: head(['Content-Length: 0', 'X-Folded: a', ' Transfer-Encoding: chunked']) + SMUGGLED },
  { name: 'obs-fold of Transfer-Encoding', payload: head(['Transfer-Encoding:', ' chunked', 'Content-Length: 0']) + '0\r\n\r\n' + SMUGGLED },
  { name: 'bare LF line endings', payload: 'POST /front HTTP/1.1\nHost: a.test\nContent-Length: 0\nTransfer-Encoding: chunked\n\n0\n\n' + SMUGGLED },
  { name: 'bare CR in a header', payload: head(['X-A: a\rTransfer-Encoding: chunked', 'Content-Length: 0']) + SMUGGLED },
  { name: 'invalid chunk size', payload: head(['Transfer-Encoding: chunked']) + 'zz\r\nhello\r\n0\r\n\r\n' + SMUGGLED },
  { name: 'chunk size overflow', payload: head(['Transfer-Encoding: chunked']) + 'fffffffffffffffff1\r\nA\r\n0\r\n\r\n' + SMUGGLED },
  { name: 'chunk without CRLF after data', payload: head(['Transfer-Encoding: chunked']) + '3\r\nabcXX0\r\n\r\n' + SMUGGLED },
  { name: 'header name with a space', payload: head(['Content Length: 44']) + SMUGGLED },
  { name: 'Content-Length with a plus sign', payload: head(['Content-Length: +44']) + SMUGGLED },
  { name: 'negative Content-Length', payload: head(['Content-Length: -1']) + SMUGGLED },
  { name: 'NUL byte in a header value', payload: head(['X-A: a\u0000b', 'Content-Length: 0']) + SMUGGLED },
  { name: 'two Host headers', payload: 'GET /front HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n' },
  { name: 'no Host header (HTTP/1.1)', payload: 'GET /front HTTP/1.1\r\nX-A: 1\r\n\r\n' },
  { name: 'Host with a CR LF injection attempt', payload: 'GET /front HTTP/1.1\r\nHost: a.test\r\n\rX: 1\r\n\r\n' },
  { name: 'pipelined pair, well framed (control: both are legitimate)', payload: head(['Content-Length: 5']) + 'hello' + 'GET /second HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n' },
  { name: 'HTTP/2.0 version on a plain HTTP/1 connection', payload: 'POST /front HTTP/2.0\r\nHost: a.test\r\nContent-Length: 0\r\n\r\n' + SMUGGLED },
  { name: 'HTTP/1.0 with Transfer-Encoding', payload: 'POST /front HTTP/1.0\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n' + SMUGGLED }
]

interface Seen { method: string, url: string, body: string }

t.test('request smuggling corpus: rejected, or exactly one request reaches the upstream', async t => {
  const seen: Seen[] = []
  const upstream = await httpUpstream(t, (req, res) => {
    let body = ''
    req.setEncoding('latin1')
    req.on('data', (d: string) => { body += d })
    req.on('end', () => { seen.push({ method: req.method ?? '', url: req.url ?? '', body }); res.end('upstream') })
  }, '127.0.0.1')
  const port = upstream.port
  const p = await startPortico({ config: httpConfig(`  - name: app\n    proxy: { upstreams: ["http://127.0.0.1:${port}"] }`) })
  t.teardown(() => p.stop('SIGKILL'))

  const rows: string[] = []
  let rejected = 0
  let normalised = 0
  for (const c of corpus) {
    seen.length = 0
    const reply = (await rawExchange(p.ports.http!, c.payload, 1000)).text
    await new Promise(resolve => setTimeout(resolve, 100)) // let a (wrongly) forwarded second request land
    const statuses = [...reply.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map(m => Number(m[1]))
    const forwarded = seen.map(s => s.url)
    rows.push(`${c.name}: client saw ${statuses.join(',') || 'no response'}, upstream saw [${forwarded.join(', ')}]`)
    t.notOk(forwarded.includes('/smuggled'), `${c.name}: the hidden request never reaches the upstream`)
    if (c.name.startsWith('pipelined')) {
      t.same(seen, [{ method: 'POST', url: '/front', body: 'hello' }, { method: 'GET', url: '/second', body: '' }], 'control: a well-framed pipelined pair passes as two requests')
      t.same(statuses, [200, 200])
      continue
    }
    t.ok(seen.length <= 1, `${c.name}: at most one request forwarded`)
    if (statuses[0] === 400 || statuses[0] === 505) { rejected++; t.equal(seen.length, 0, `${c.name}: rejected with ${statuses[0]} and nothing forwarded`) } else { normalised++; t.equal(statuses[0], 200, `${c.name}: normalised and answered (got ${statuses[0] ?? 'nothing'})`) }
  }
  t.comment(rows.join('\n'))
  figure({ case: 'request smuggling', tried: 'CL.TE, TE.CL, duplicate/list Content-Length, TE chunked+identity, duplicate TE, space before colon, obs-fold, bare LF/CR, bad/overflowing chunk sizes, NUL, signed CL, two/no Host, HTTP/1.0 TE, plus a well-framed pipelined pair as control', count: corpus.length, result: `${rejected} rejected with 400/505 (nothing forwarded), ${normalised} forwarded as exactly one request; the hidden request never reached the upstream; the control pair passed as two` })
  t.equal(p.child.exitCode, null, 'portico is still running')
})
