import t from 'tap'
import { send, sendH2, type Reply } from '../helpers/http.js'
import { startPortico, tlsConfig } from '../helpers/portico.js'
import { until } from '../helpers/wait.js'
import { poolMember, tally } from '../helpers/pool-members.js'

/**
 * Load-balancing policies of proxy pools (issue 22) on HTTP/1.1 (node path or the engine) and
 * HTTP/2: round_robin, least_conn (in-flight counts from both transports), ip_hash (client
 * address after trusted-proxy handling), cookie (sticky, opaque, tampered and stale cookies).
 */
t.test('round_robin, least_conn, ip_hash and cookie pools', async t => {
  const a = await poolMember(t, 'A', '127.0.0.2')
  const b = await poolMember(t, 'B', '127.0.0.3')
  const c = await poolMember(t, 'C', '127.0.0.4')
  const d = await poolMember(t, 'D', '127.0.0.5')
  const e = await poolMember(t, 'E', '127.0.0.6')
  const three = `["${a.origin}", "${b.origin}", "${c.origin}"]`
  const route = (name: string, upstreams: string, extra: string): string => `
  - { name: ${name}, host: ${name}.test, proxy: { upstreams: ${upstreams}${extra} } }`
  const p = await startPortico({
    config: tlsConfig(['rr.test', 'lc.test', 'ip.test', 'ck.test', 'stale.test', 'ipfail.test', 'lcfail.test'], [
      route('rr', three, ''),
      route('lc', three, ', load_balancing: least_conn'),
      route('ip', three, ', load_balancing: ip_hash'),
      route('ck', three, ', load_balancing: cookie, cookie: { name: pin, ttl: 1h }'),
      route('stale', `["${d.origin}", "${a.origin}"]`, ', load_balancing: cookie, cookie: { name: pin, secure: true }'),
      route('ipfail', `["${e.origin}", "${b.origin}"]`, ', load_balancing: ip_hash'),
      route('lcfail', `["${e.origin}", "${c.origin}"]`, ', load_balancing: least_conn')
    ].join(''), 'trusted_proxies: [127.0.0.1/32]')
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.http!
  const h2 = p.ports.https!
  const get = async (host: string, headers: Record<string, string> = {}, path = '/'): Promise<Reply> => await send(port, host, { headers, path })

  t.test('round_robin spreads evenly', async t => {
    const counts = await tally(30, async () => (await get('rr.test')).body)
    for (const m of ['A', 'B', 'C']) t.ok((counts[m] ?? 0) >= 8 && (counts[m] ?? 0) <= 12, `${m}: ${counts[m] ?? 0} of 30`)
  })

  t.test('least_conn: a member holding slow requests gets no new ones until they finish', async t => {
    a.holding = true
    const slow: Array<Promise<Reply>> = []
    for (let i = 0; i < 6 && a.held.length < 1; i++) {
      const before = a.held.length
      let settled = false
      const r = get('lc.test', {}, '/slow')
      slow.push(r)
      void r.finally(() => { settled = true })
      await until('the slow request to land', async () => settled || a.held.length > before ? true : undefined)
    }
    // Once A holds one, least_conn sends the following /slow requests (answered at once by B and C) elsewhere.
    t.equal(a.held.length, 1, 'A holds a request')
    const h1 = await tally(20, async () => (await get('lc.test')).body)
    t.same(Object.keys(h1).sort(), ['B', 'C'], `HTTP/1.1: A (1 in flight) got none of 20 new requests: ${JSON.stringify(h1)}`)
    const viaH2 = await tally(10, async () => (await sendH2(h2, 'lc.test')).body)
    t.equal(viaH2.A, undefined, `HTTP/2 reads the same counts: ${JSON.stringify(viaH2)}`)
    a.holding = false
    a.release()
    t.same((await Promise.all(slow)).filter(r => r.status !== 200), [], 'the held requests completed')
    const after = await tally(9, async () => (await get('lc.test')).body)
    t.ok((after.A ?? 0) >= 2, `A gets requests again once idle: ${JSON.stringify(after)}`)
  })

  t.test('ip_hash: one client stays on one member; clients spread; the forwarded address counts', async t => {
    const client = { 'x-forwarded-for': '203.0.113.7' }
    const counts = await tally(50, async () => (await get('ip.test', client)).body)
    t.equal(Object.keys(counts).length, 1, `50 requests of one client, one member: ${JSON.stringify(counts)}`)
    const viaH2 = await tally(5, async () => (await sendH2(h2, 'ip.test', { headers: client })).body)
    t.same(Object.keys(viaH2), Object.keys(counts), 'HTTP/2 requests of the same client reach the same member')
    const members = new Set<string>()
    for (let i = 1; i <= 24; i++) members.add((await get('ip.test', { 'x-forwarded-for': `198.51.100.${i}` })).body)
    t.ok(members.size >= 2, `24 clients spread over ${members.size} members`)
  })

  t.test('cookie: sticky, opaque, tampered and stale cookies re-pinned', async t => {
    const first = await get('ck.test')
    const set = String(first.headers['set-cookie'] ?? '')
    t.match(set, /^pin=[A-Za-z0-9_-]{22}; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax$/, 'the pin cookie is set')
    const value = set.slice(4, 26)
    for (const m of [a, b, c]) t.notOk(set.includes(new URL(m.origin).port) || set.includes('127.0.0'), 'the cookie names no address or port')
    const cookie = { cookie: `other=1; pin=${value}` }
    const sticky = await tally(20, async () => {
      const r = await get('ck.test', cookie)
      if (r.headers['set-cookie'] !== undefined) t.fail('a valid pin is not set again')
      return r.body
    })
    t.same(sticky, { [first.body]: 20 }, 'sticky across 20 requests')
    const viaH2 = await tally(5, async () => (await sendH2(h2, 'ck.test', { headers: { cookie: ['other=1', `pin=${value}`] } })).body)
    t.same(viaH2, { [first.body]: 5 }, 'HTTP/2 (cookie crumbs) follows the same pin')
    const tampered = await get('ck.test', { cookie: `pin=${value.slice(0, -2)}xx` })
    t.equal(tampered.status, 200, 'a tampered cookie is served')
    t.match(String(tampered.headers['set-cookie']), /^pin=[A-Za-z0-9_-]{22};/, 'and re-pinned')
    t.not(String(tampered.headers['set-cookie']).slice(4, 26), `${value.slice(0, -2)}xx`)

    // A pin to a member that stops answering: failover, and the cookie follows the member that answered.
    let toD: Reply | undefined
    for (let i = 0; i < 4 && toD?.body !== 'D'; i++) toD = await get('stale.test')
    t.equal(toD?.body, 'D', 'pinned to D')
    t.match(String(toD?.headers['set-cookie']), /; Secure; HttpOnly; SameSite=Lax$/, 'secure: true adds Secure')
    const pinD = String(toD?.headers['set-cookie']).slice(4, 26)
    await d.close()
    const moved = await get('stale.test', { cookie: `pin=${pinD}` })
    t.equal(moved.body, 'A', 'D gone: the request failed over to A')
    const pinA = String(moved.headers['set-cookie'] ?? '').slice(4, 26)
    t.ok(pinA !== '' && pinA !== pinD, 'and the cookie now pins A')
    t.equal((await get('stale.test', { cookie: `pin=${pinA}` })).headers['set-cookie'], undefined, 'the new pin holds')
  })

  t.test('failover on a refused connect works with ip_hash and least_conn too', async t => {
    let client: string | undefined
    for (let i = 1; i <= 20 && client === undefined; i++) {
      if ((await get('ipfail.test', { 'x-forwarded-for': `192.0.2.${i}` })).body === 'E') client = `192.0.2.${i}`
    }
    t.ok(client !== undefined, `a client hashed to E: ${client}`)
    await e.close()
    const r = await get('ipfail.test', { 'x-forwarded-for': client ?? '' })
    t.same([r.status, r.body], [200, 'B'], 'its member gone, the request failed over')
    const lc = await tally(4, async () => (await get('lcfail.test')).body)
    t.same(lc, { C: 4 }, 'least_conn: every request reached the live member')
  })
})
