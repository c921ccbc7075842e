import t from 'tap'
import { ConfigError, parseConfigText } from '../../src/config/index.js'
import { pickOrder, type MemberView } from '../../src/router/lb-select.js'
import { compileStickyCookie, cookieValue } from '../../src/router/sticky-cookie.js'
import { PoolChecker } from '../../src/health/index.js'
import { effectiveClientIp as clientAddressOf } from '../../src/router/client-address.js'
import { compileIpPolicy } from '../../src/router/index.js'
import type { MemberState } from '../../src/router/index.js'

/** Pure parts of load balancing and health checks (the e2e tests run them against real upstreams). */
const member = (over: Partial<MemberView> = {}): MemberView => ({ up: true, downUntil: 0, inflight: 0, ...over })

t.test('pickOrder: tiers, and checked-down members only when every member is down', async t => {
  const ms = [member(), member({ up: false }), member({ downUntil: 100 }), member()]
  t.same(pickOrder('round_robin', ms, 50, 0, undefined), [0, 3, 2], 'checked-down left out, passively marked last')
  t.same(pickOrder('round_robin', ms, 50, 1, undefined), [3, 0, 2], 'round robin starts at the next eligible member')
  t.same(pickOrder('round_robin', ms, 200, 1, undefined), [2, 3, 0], 'an expired mark is no mark')
  const allDown = [member({ up: false }), member({ up: false }), member({ up: false })]
  t.same(pickOrder('round_robin', allDown, 0, 1, undefined), [1, 2, 0], 'all checked down: all tried, in policy order')
  t.same(pickOrder('least_conn', [member({ inflight: 3 }), member({ inflight: 1 }), member({ inflight: 1 })], 0, 2, undefined), [2, 0, 1], 'least_conn: fewest in flight, ties by turn')
  t.same(pickOrder('cookie', ms, 50, 0, { clientIp: '', stickyIndex: 3 })[0], 3, 'cookie: the pinned member')
  t.same(pickOrder('cookie', ms, 50, 0, { clientIp: '', stickyIndex: 1 })[0], 0, 'cookie pinning a checked-down member: the policy picks again')
  const a = pickOrder('ip_hash', [member(), member(), member()], 0, 0, { clientIp: '192.0.2.1', stickyIndex: undefined })[0]!
  t.same(pickOrder('ip_hash', [member(), member(), member()], 0, 2, { clientIp: '192.0.2.1', stickyIndex: undefined })[0], a, 'ip_hash ignores the turn')
  const without = [member(), member(), member()]
  without[a] = member({ up: false })
  t.not(pickOrder('ip_hash', without, 0, 0, { clientIp: '192.0.2.1', stickyIndex: undefined })[0], a, 'its member down: the next one')
})

t.test('every policy orders every up member once (failover always has somewhere to go)', async t => {
  const states = [[member(), member(), member()], [member({ up: false }), member({ inflight: 2 }), member({ downUntil: 10 })], [member({ up: false }), member({ up: false })]]
  for (const policy of ['round_robin', 'least_conn', 'ip_hash', 'cookie'] as const) {
    for (const ms of states) {
      for (let rr = 0; rr < ms.length; rr++) {
        const order = pickOrder(policy, ms, 5, rr, { clientIp: `10.0.0.${rr}`, stickyIndex: rr })
        const expected = ms.some(m => m.up) ? ms.flatMap((m, i) => m.up ? [i] : []) : ms.map((_, i) => i)
        t.same([...order].sort(), expected, `${policy} rr=${rr}: ${JSON.stringify(order)}`)
      }
    }
  }
  t.equal(clientAddressOf('127.0.0.1', '198.51.100.1', undefined), '127.0.0.1', 'X-Forwarded-For from an untrusted peer is ignored (ip_hash)')
  t.equal(clientAddressOf('127.0.0.1', '198.51.100.1, 127.0.0.1', compileIpPolicy(['127.0.0.1/32'], [{ from: 1, to: 65535 }])), '198.51.100.1', 'the last untrusted hop')
})

t.test('sticky cookie values: opaque, per member, parsed from a Cookie line', async t => {
  const origins = ['http://10.0.0.1:80', 'http://10.0.0.2:80']
  const c = compileStickyCookie({ name: 'pin', secure: true, http_only: true, ttl: 60_000 }, origins, { name: 'r' })
  t.equal(c.values.length, 2)
  t.not(c.values[0], c.values[1])
  t.equal(c.indexOf(c.values[1]), 1)
  t.equal(c.indexOf('x'), undefined)
  t.equal(c.setCookie(0), `pin=${c.values[0]!}; Path=/; Max-Age=60; Secure; HttpOnly; SameSite=Lax`)
  const other = compileStickyCookie({ name: 'pin', secure: false, http_only: true }, origins, { name: 'r', changed: true })
  t.not(other.values[0], c.values[0], 'a changed route config makes old values stale')
  t.equal(cookieValue('a=1; pin=xyz; pin2=no', 'pin'), 'xyz')
  t.equal(cookieValue('apin=1;pin2=2', 'pin'), undefined)
  t.equal(cookieValue(undefined, 'pin'), undefined)
})

t.test('checker thresholds: down after unhealthy_after failures, up after healthy_after passes', async t => {
  const m: MemberState = { origin: 'http://127.0.0.2:1', up: true, downUntil: 0, inflight: 0, okStreak: 0, failStreak: 0, lastCheck: undefined }
  const changes: string[] = []
  const c = new PoolChecker([m], { path: '/', intervalMs: 1000, timeoutMs: 100, expect: [{ from: 200, to: 299 }], unhealthyAfter: 2, healthyAfter: 3, host: undefined }, {
    timers: { set: () => 0, clear: () => {} }, probe: async () => ({ status: 200 }), now: () => 0, onChange: (o, up) => changes.push(`${up ? 'up' : 'down'}`)
  })
  c.record(m, { status: 503 })
  t.equal(m.up, true, 'one failure is not enough')
  c.record(m, { error: 'ECONNREFUSED' })
  t.equal(m.up, false, 'two are')
  t.same(m.lastCheck, { at: new Date(0).toISOString(), ok: false, detail: 'ECONNREFUSED' })
  m.downUntil = 99
  c.record(m, { status: 204 })
  c.record(m, { status: 204 })
  t.equal(m.up, false)
  c.record(m, { status: 302 })
  t.equal(m.up, false, 'a status outside expect_status is a failure and resets the streak')
  for (let i = 0; i < 3; i++) c.record(m, { status: 200 })
  t.equal(m.up, true, 'three passes in a row')
  t.equal(m.downUntil, 0, 'a pass clears the passive mark')
  t.same(changes, ['down', 'up'])
})

t.test('config: pool keys are validated with their location', async t => {
  const problems = (proxy: string): string[] => {
    try {
      parseConfigText(`listeners: [{ name: http, address: "127.0.0.1:0" }]\nroutes:\n  - { name: r, host: a.test, proxy: ${proxy} }\n`, 'c.yaml')
    } catch (err) {
      if (err instanceof ConfigError) return err.message.split('\n')
      throw err
    }
    return []
  }
  const up = 'upstreams: ["http://127.0.0.2:1", "http://127.0.0.3:1"]'
  t.same(problems(`{ ${up}, health_check: { expect_status: [200, "2xx", "300-399"] }, load_balancing: least_conn }`), [])
  t.match(problems(`{ ${up}, health_check: { expect_status: "2yy" } }`)[0], /^c\.yaml:3:\d+: routes\[0\]\.proxy\.health_check\.expect_status: invalid status "2yy"/)
  t.match(problems(`{ ${up}, health_check: { interval: 1s, timeout: 2s } }`)[0], /health_check\.timeout: timeout must be above 0 and at most the interval/)
  t.match(problems(`{ ${up}, load_balancing: cookie }`)[0], /proxy\.cookie: load_balancing: cookie needs cookie/)
  t.match(problems(`{ ${up}, cookie: { name: x } }`)[0], /proxy\.cookie: cookie is only used with load_balancing: cookie/)
  t.match(problems(`{ ${up}, load_balancing: random }`)[0], /load_balancing/)
  t.match(problems('{ upstreams: ["http://{host}:80"], health_check: {} }')[0], /health_check: health_check needs fixed upstreams/)
  t.match(problems(`{ ${up}, health_check: { unhealthy_afte: 2 } }`)[0], /did you mean "unhealthy_after"/)
})
