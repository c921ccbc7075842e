import t from 'tap'
import { accessLine } from '../../src/log/access-line.js'
import type { AccessEntry } from '../../src/router/index.js'

/**
 * Issue 18.3: `log.access_format: common | combined` — the lines nginx and Apache write, so log
 * tooling reads them unchanged. The e2e test (access-log) reads a combined file; this one pins
 * `common` and the escaping of both.
 */
const entry: AccessEntry = {
  rid: 'r1', method: 'GET', host: 'app.test', path: '/a?b=1', status: 404, bytes: 57, bytesIn: 0, ms: 1.2,
  route: 'app', upstream: undefined, action: 'proxy', listener: 'http',
  client: '198.51.100.7', proto: 'HTTP/1.0', ua: 'curl/8 "x"\n', referer: 'https://r.test/'
}
const when = new Date(Date.UTC(2026, 11, 1, 1, 2, 3))

t.test('common: client, time, request line, status and bytes, nothing after them', async t => {
  t.equal(accessLine(entry, 'common', when), '198.51.100.7 - - [01/Dec/2026:01:02:03 +0000] "GET /a?b=1 HTTP/1.0" 404 57')
})

t.test('combined: referer and user agent appended, quotes and control characters escaped as nginx does', async t => {
  t.equal(accessLine(entry, 'combined', when),
    '198.51.100.7 - - [01/Dec/2026:01:02:03 +0000] "GET /a?b=1 HTTP/1.0" 404 57 "https://r.test/" "curl/8 \\x22x\\x22\\x0A"')
})

t.test('missing fields are "-" (no client known, no referer or user agent)', async t => {
  const bare: AccessEntry = { ...entry, client: undefined, proto: undefined, ua: undefined, referer: undefined, path: '/"q"' }
  t.equal(accessLine(bare, 'combined', when), '- - - [01/Dec/2026:01:02:03 +0000] "GET /\\x22q\\x22 HTTP/1.1" 404 57 "-" "-"')
  t.equal(accessLine(bare, 'common', when), '- - - [01/Dec/2026:01:02:03 +0000] "GET /\\x22q\\x22 HTTP/1.1" 404 57')
})
