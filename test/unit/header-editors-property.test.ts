import t from 'tap'
import fc from 'fast-check'
import { validateHeaderName, validateHeaderValue } from 'node:http'
import { parseConfigText } from '../../src/config/index.js'
import { compileRouteTable } from '../../src/router/index.js'
import { clientResponseHeaders, forwardFacts, upstreamRequestHeaders, type ResponseHeaderMap } from '../../src/router/headers.js'
import { scopeSetCookies } from '../../src/router/cookies.js'
import { addCors, responseEditor } from '../../src/router/response-editor.js'
import { scaled } from '../helpers/figures.js'
import { Framing, REFUSED, ResponseHeadParser } from '../../src/engine/index.js'
import { clientHead, editedFields } from '../../src/engine/client-head.js'

/**
 * Issue 25's class fix: every header editor takes every shape the upstream client produces —
 * a header seen once is a string, a repeated one an array (undici) — and leaves something
 * writeHead accepts. The single-Set-Cookie string is what broke before.
 */
const RUNS = scaled(2000)

const token = fc.stringMatching(/^[a-z0-9-]{1,12}$/)
const value = fc.stringMatching(/^[\x20-\x7e]{0,40}$/).map(v => v.trim())
const cookie = fc.tuple(token, value, fc.constantFrom('', '; Path=/', '; Domain=uap.test', '; domain=.X.UAP.TEST', '; Domain=other.test; HttpOnly', '; Secure'))
  .map(([n, v, attrs]) => `${n}=${v.replace(/;/g, '')}${attrs}`)
const NAMED = ['set-cookie', 'vary', 'connection', 'keep-alive', 'transfer-encoding', 'access-control-allow-origin', 'server', 'link', 'content-type']

/** A header map as undici hands it over: any name, a string or an array of one or more strings. */
const headerMap = fc.dictionary(fc.oneof(fc.constantFrom(...NAMED), token), fc.oneof(value, fc.array(value, { minLength: 1, maxLength: 4 })))
  .chain(base => fc.option(fc.oneof(cookie, fc.array(cookie, { minLength: 1, maxLength: 4 })), { nil: undefined })
    .map(sc => (sc === undefined ? base : { ...base, 'set-cookie': sc }) as ResponseHeaderMap))

const table = compileRouteTable(parseConfigText(`
listeners: [{ name: h, address: "127.0.0.1:0" }]
routes:
  - name: uap
    uap: { domain: uap.test, allow: [127.0.0.0/8] }
    response_headers: { remove: [server], set: { x-frame-options: DENY } }
    cors: { origins: ["https://app.example.org"], credentials: true }
  - name: plain
    host: [plain.test]
    proxy: { upstreams: ["http://127.0.0.2:80"] }
`, 't.yaml'))
const uapRoute = table.routes[0]!
const corsHeaders = uapRoute.cors!.responseHeaders('https://app.example.org')!
const HOST = 'http-127-0-0-2-8888.x.uap.test'

/** What Node's writeHead would refuse, if anything. */
function writable (h: ResponseHeaderMap): boolean {
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue
    validateHeaderName(k)
    for (const one of Array.isArray(v) ? v : [v]) { if (typeof one !== 'string') return false; validateHeaderValue(k, one) }
  }
  return true
}

const cookiesOf = (h: ResponseHeaderMap): string[] => { const c = h['set-cookie']; return c === undefined ? [] : typeof c === 'string' ? [c] : c }

t.test('scopeSetCookies keeps shape and count and leaves no foreign Domain', async t => {
  fc.assert(fc.property(headerMap, h => {
    const before = h['set-cookie']
    scopeSetCookies(h, HOST)
    const after = h['set-cookie']
    if (typeof before !== typeof after || Array.isArray(before) !== Array.isArray(after)) return false
    if (cookiesOf(h).length !== (before === undefined ? 0 : typeof before === 'string' ? 1 : before.length)) return false
    return cookiesOf(h).every(c => !/;\s*domain=/i.test(c)) && writable(h)
  }), { numRuns: RUNS })
  t.pass(`${RUNS} maps`)
})

t.test('clientResponseHeaders drops hop-by-hop headers of any shape', async t => {
  fc.assert(fc.property(headerMap, fc.boolean(), (h, withDrop) => {
    const out = clientResponseHeaders(h, withDrop ? new Set(['access-control-allow-origin']) : undefined)
    return out.connection === undefined && out['keep-alive'] === undefined && out['transfer-encoding'] === undefined &&
      (!withDrop || out['access-control-allow-origin'] === undefined) && writable(out)
  }), { numRuns: RUNS })
  t.pass(`${RUNS} maps`)
})

t.test('addCors sets the CORS answer and varies on Origin once, whatever Vary looked like', async t => {
  fc.assert(fc.property(headerMap, h => {
    addCors(h, corsHeaders)
    const vary = h.vary
    return typeof vary === 'string' && (vary.match(/\borigin\b/gi) ?? []).length >= 1 &&
      h['access-control-allow-origin'] === 'https://app.example.org' && writable(h)
  }), { numRuns: RUNS })
  t.pass(`${RUNS} maps`)
})

t.test('the composed editors of a UAP route with edits, cookie scoping and CORS', async t => {
  const edit = responseEditor(uapRoute, HOST, corsHeaders)!
  t.equal(responseEditor(table.routes[1]!, 'plain.test', undefined), undefined, 'no editor where nothing is edited')
  fc.assert(fc.property(headerMap, h => {
    const n = cookiesOf(h).length
    const out = clientResponseHeaders(h)
    edit(out)
    return out.server === undefined && out['x-frame-options'] === 'DENY' && cookiesOf(out).length === n && writable(out)
  }), { numRuns: RUNS })
  t.pass(`${RUNS} maps`)
})

t.test('upstreamRequestHeaders: any raw header list gives one Host, one Cookie, no Expect, no hop-by-hop', async t => {
  const REQ = ['host', 'cookie', 'expect', 'connection', 'upgrade', 'te', 'x-forwarded-for', 'forwarded', 'via', 'accept']
  const raw = fc.array(fc.tuple(fc.oneof(fc.constantFrom(...REQ), token), value), { maxLength: 12 })
  fc.assert(fc.property(raw, fc.boolean(), (pairs, trusted) => {
    const facts = { ...forwardFacts('127.0.0.1', 'https', 'a.test', 'rid-1', undefined, true), trusted }
    const before = JSON.stringify(facts)
    const flat = pairs.flat()
    const out = upstreamRequestHeaders(flat, facts, undefined)
    if (JSON.stringify(facts) !== before) return false // the caller's facts are never changed
    const names = out.filter((_, i) => i % 2 === 0).map(n => n.toLowerCase())
    const count = (n: string): number => names.filter(x => x === n).length
    const cookies = pairs.filter(([n]) => n === 'cookie').map(([, v]) => v)
    const cookieOut = out[names.indexOf('cookie') * 2 + 1]
    return out.length % 2 === 0 && count('host') === 1 && count('cookie') === (cookies.length === 0 ? 0 : 1) &&
      (cookies.length === 0 || cookieOut === cookies.join('; ')) &&
      count('expect') === 0 && count('te') === 0 && count('upgrade') === 0 && count('connection') === 0 && count('x-forwarded-for') === 1
  }), { numRuns: RUNS })
  t.pass(`${RUNS} lists`)
})

/**
 * The engine (the default HTTP/1.1 transport) reads the upstream's head itself: a field once or
 * repeated, in any letter case, becomes the same map shapes before the same editors run.
 */
t.test('engine heads: any raw field list through editedFields and clientHead keeps every cookie, scoped, and no hop-by-hop', async t => {
  const edit = responseEditor(uapRoute, HOST, corsHeaders)!
  const anyCase = (n: string): fc.Arbitrary<string> => fc.array(fc.boolean(), { minLength: n.length, maxLength: n.length })
    .map(up => [...n].map((ch, i) => up[i] === true ? ch.toUpperCase() : ch).join(''))
  const field = fc.oneof(
    fc.tuple(fc.constantFrom(...NAMED).chain(anyCase), value),
    fc.tuple(anyCase('set-cookie'), cookie),
    fc.tuple(token, value),
    // Names of Object.prototype members: a map built on {} took them for earlier fields.
    fc.tuple(fc.constantFrom('constructor', '__proto__').chain(anyCase), value)
  )
  const HOP = ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-connection']
  let parsed = 0
  fc.assert(fc.property(fc.array(field, { maxLength: 12 }), fields => {
    const head = `HTTP/1.1 200 OK\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}content-length: 0\r\n\r\n`
    const p = new ResponseHeadParser({ maxHeaderSize: 65536, maxHeaders: 256 })
    // The strict parser may refuse a head (a repeated or odd Transfer-Encoding): the exchange answers 502 then.
    if (p.read(Buffer.from(head, 'latin1'), 0, head.length) === REFUSED) return true
    parsed++
    const cookies = fields.filter(([n]) => n.toLowerCase() === 'set-cookie').length
    const out = editedFields(p, { hsts: undefined, drop: undefined, edit, setCookie: undefined })
    const sent = out.filter(([n]) => n === 'set-cookie').map(([, v]) => v)
    const h = Object.create(null) as ResponseHeaderMap
    for (const [n, v] of out) { const prev = h[n]; h[n] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v] }
    const plain = clientHead(p, Framing.Length, { hsts: undefined, close: false }).toLowerCase()
    return sent.length === cookies && sent.every(c => !/;\s*domain=/i.test(c)) && writable(h) &&
      out.every(([n]) => !HOP.includes(n)) && out.some(([n, v]) => n === 'x-frame-options' && v === 'DENY') &&
      HOP.every(n => !plain.includes(`\r\n${n}:`))
  }), { numRuns: RUNS })
  t.ok(parsed > RUNS / 2, `${parsed} of ${RUNS} heads parsed and checked`)
})
