import t from 'tap'
import { ChunkedTracker, CHUNKED_REFUSED, Framing, NEED_MORE, REFUSED, RequestFramer, RequestHeadParser, ResponseHeadParser, Step } from '../../src/engine/index.js'

const LIMITS = { maxHeaderSize: 1024, maxHeaders: 10 }

/** Feeds `text` to a fresh request parser, one byte at a time when `split`; the status it refused with, or 0. */
function refusal (text: string, split = false): number {
  const p = new RequestHeadParser(LIMITS)
  const b = Buffer.from(text, 'latin1')
  if (!split) {
    const r = p.read(b, 0, b.length)
    return r === REFUSED ? p.status : r === NEED_MORE ? -1 : 0
  }
  for (let i = 0; i < b.length; i++) {
    const r = p.read(b, i, i + 1)
    if (r === REFUSED) return p.status
    if (r !== NEED_MORE) return 0
  }
  return -1
}

const head = (fields: string, start = 'GET / HTTP/1.1'): string => `${start}\r\nHost: a.test\r\n${fields}\r\n`

t.test('strict request heads: what RFC 9112 forbids is refused, whole or split byte by byte', async t => {
  const cases: Array<[string, string, number]> = [
    ['a plain GET', head(''), 0],
    ['leading empty lines', `\r\n\r\n${head('')}`, 0],
    ['obs-fold', head('X-A: 1\r\n  folded\r\n'), 400],
    ['whitespace before the colon', head('X-A : 1\r\n'), 400],
    ['bare LF ending a field', head('X-A: 1\nX-B: 2\r\n'), 400],
    ['bare LF ending the head', 'GET / HTTP/1.1\nHost: a\n\n', 400],
    ['bare CR in a value', head('X-A: 1\r2\r\n'), 400],
    ['NUL in a value', head('X-A: 1\u00002\r\n'), 400],
    ['DEL in a value', head('X-A: 1\u007f\r\n'), 400],
    ['empty field name', head(': x\r\n'), 400],
    ['Content-Length and Transfer-Encoding', head('Content-Length: 3\r\nTransfer-Encoding: chunked\r\n'), 400],
    ['repeated Content-Length, same value', head('Content-Length: 3\r\nContent-Length: 3\r\n'), 400],
    ['Content-Length list', head('Content-Length: 3, 3\r\n'), 400],
    ['signed Content-Length', head('Content-Length: +3\r\n'), 400],
    ['huge Content-Length', head('Content-Length: 99999999999999999999\r\n'), 400],
    ['Transfer-Encoding gzip, chunked', head('Transfer-Encoding: gzip, chunked\r\n'), 400],
    ['Transfer-Encoding chunked twice', head('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n'), 400],
    ['Transfer-Encoding in HTTP/1.0', head('Transfer-Encoding: chunked\r\n', 'POST / HTTP/1.0'), 400],
    ['repeated Host', head('Host: b.test\r\n'), 400],
    ['unknown method', head('', 'FOO / HTTP/1.1'), 501],
    ['CONNECT', head('', 'CONNECT a.test:443 HTTP/1.1'), 501],
    ['lower-case method', head('', 'get / HTTP/1.1'), 501],
    ['authority-form target', head('', 'GET a.test:443 HTTP/1.1'), 400],
    ['target with a space', head('', 'GET /a b HTTP/1.1'), 400],
    ['target with a raw non-ASCII byte', head('', 'GET /\u00e9 HTTP/1.1'), 400],
    ['HTTP/2.0 on an HTTP/1 connection', head('', 'GET / HTTP/2.0'), 505],
    ['lower-case version', head('', 'GET / http/1.1'), 400],
    ['two spaces', head('', 'GET  / HTTP/1.1'), 400],
    ['upgrade with a body', head('Connection: upgrade\r\nUpgrade: websocket\r\nContent-Length: 1\r\n'), 400],
    ['too many fields', head('X: 1\r\n'.repeat(10)), 431],
    ['head too large', head(`X: ${'a'.repeat(1100)}\r\n`), 431]
  ]
  for (const [name, text, status] of cases) {
    t.equal(refusal(text), status, name)
    t.equal(refusal(text, true), status, `${name}, split byte by byte`)
  }
})

t.test('request framing: fields that decide where a message ends', async t => {
  const p = new RequestHeadParser(LIMITS)
  const b = Buffer.from(head('Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nExpect: 100-Continue\r\n', 'GET http://b.test/x HTTP/1.0') + 'rest', 'latin1')
  const end = p.read(b, 0, b.length)
  t.equal(b.subarray(end).toString(), 'rest', 'returns the offset after the head')
  t.match(p, { method: 'GET', target: 'http://b.test/x', minor: 0, keepAlive: true, upgrade: true, expectContinue: true, host: 'a.test', contentLength: -1, chunked: false })
  t.same(p.headers.slice(0, 2), ['Host', 'a.test'], 'raw field names keep their case')
  const c = Buffer.from(head('Connection: close\r\nTransfer-Encoding: Chunked\r\n', 'POST / HTTP/1.1'), 'latin1')
  p.read(c, 0, c.length)
  t.match(p, { keepAlive: false, chunked: true, upgrade: false })
})

t.test('chunked bodies: sizes, extensions and trailers strictly; the end found in any split', async t => {
  const good = '1a;name=value;q="x \\" y"\r\n' + 'x'.repeat(26) + '\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT'
  const refused = ['g\r\n', '1 \r\nx\r\n', '1;a =b\r\nx\r\n', '1\nx\r\n', '1\r\nxx\r\n', '0\r\nBad Name: 1\r\n\r\n', '0\r\n fold\r\n\r\n', '10000000000000000\r\n', ';a\r\n']
  for (let split = 1; split <= good.length; split += 7) {
    const tr = new ChunkedTracker(1024, 10)
    let data = ''
    tr.onData = (buf, s, e) => { data += buf.toString('latin1', s, e) }
    const b = Buffer.from(good, 'latin1')
    let end = -1
    for (let i = 0; i < b.length && end < 0; i += split) {
      const r = tr.feed(b, i, Math.min(b.length, i + split))
      if (r >= 0) end = r
    }
    t.equal(b.subarray(end).toString(), 'NEXT', `end found with pieces of ${split}`)
    t.equal(data, 'x'.repeat(26))
  }
  for (const text of refused) {
    const tr = new ChunkedTracker(1024, 10)
    t.equal(tr.feed(Buffer.from(text, 'latin1'), 0, text.length), CHUNKED_REFUSED, JSON.stringify(text))
  }
})

t.test('request framer: pipelined messages one event at a time', async t => {
  const f = new RequestFramer(LIMITS)
  const b = Buffer.from(head('Content-Length: 3\r\n', 'POST / HTTP/1.1') + 'abc' + head('Transfer-Encoding: chunked\r\n', 'PUT /2 HTTP/1.1') + '2\r\nhi\r\n0\r\n\r\n' + head(''), 'latin1')
  const seen: string[] = []
  let pos = 0
  while (pos < b.length) {
    pos = f.next(b, pos, b.length)
    if (f.step === Step.Head) seen.push(`head ${f.head.method} ${f.head.target}`)
    if (f.step === Step.Body) seen.push(`body ${b.toString('latin1', f.spanStart, f.spanEnd)}`)
    if (f.messageDone) seen.push('end')
  }
  t.same(seen, ['head POST /', 'body abc', 'end', 'head PUT /2', 'body 2\r\nhi\r\n0\r\n\r\n', 'end', 'head GET /', 'end'])
})

t.test('response heads and their framing (RFC 9112 §6.3)', async t => {
  const frame = (text: string, method = 'GET'): [Framing | string, boolean] => {
    const p = new ResponseHeadParser(LIMITS)
    const b = Buffer.from(text, 'latin1')
    const r = p.read(b, 0, b.length)
    return r === REFUSED ? [`${p.status}`, false] : [p.framing(method), p.reusable(method)]
  }
  t.same(frame('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'), [Framing.Length, true])
  t.same(frame('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'), [Framing.Chunked, true])
  t.same(frame('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n'), [Framing.Close, false])
  t.same(frame('HTTP/1.1 200 OK\r\n\r\n'), [Framing.Close, false], 'no length: until close')
  t.same(frame('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', 'HEAD'), [Framing.None, true])
  t.same(frame('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n'), [Framing.None, true])
  t.same(frame('HTTP/1.1 304 Not Modified\r\n\r\n'), [Framing.None, true])
  t.same(frame('HTTP/1.1 100 Continue\r\n\r\n'), [Framing.None, true])
  t.same(frame('HTTP/1.1 200\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'), [Framing.Length, false], 'no reason phrase, close')
  t.same(frame('HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n'), [Framing.Length, false], 'HTTP/1.0 closes by default')
  t.same(frame('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n'), [Framing.Length, true], 'identical repeats tolerated')
  t.same(frame('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n'), ['502', false])
  t.same(frame('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n'), ['502', false])
  t.same(frame('HTTP/1.1 2000 OK\r\n\r\n'), ['502', false])
  t.same(frame('HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n'), ['502', false], 'obs-fold from an upstream too')
})
