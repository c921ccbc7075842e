import t from 'tap'
import fc from 'fast-check'
import { parseConfigText } from '../../src/config/index.js'
import { compileRouteTable, decide } from '../../src/router/index.js'
import { figure, scaled } from '../helpers/figures.js'

const RUNS = scaled(5000)

// Property: for any host, decide() never throws, and a UAP host is proxied exactly when its
// target lies inside the allowed CIDRs and ports (checked here by an independent oracle).
const table = compileRouteTable(parseConfigText(`
listeners: [{ name: h, address: "127.0.0.1:0" }]
routes:
  - uap: { domain: uap.example.org, allow: [198.51.100.0/24, 10.1.0.0/16], ports: ["8000-8999", 22] }
`, 't.yaml'))

const inPolicy = (a: number, b: number, c: number, port: number): boolean =>
  ((a === 198 && b === 51 && c === 100) || (a === 10 && b === 1)) && ((port >= 8000 && port <= 8999) || port === 22)

t.test('decision matches the policy oracle for well-formed labels', async t => {
  fc.assert(fc.property(
    fc.constantFrom('', 'http-', 'https-'),
    fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }),
    fc.integer({ min: 1, max: 65535 }),
    (scheme, a, b, c, d, port) => {
      const r = decide(table, { host: `${scheme}${a}-${b}-${c}-${d}-${port}.uap.example.org`, url: '/', listener: 'h', tls: true })
      const allowed = inPolicy(a, b, c, port)
      if (allowed !== (r.action === 'proxy')) return false
      if (r.action === 'proxy') return r.target === `${scheme === 'http-' ? 'http' : 'https'}://${a}.${b}.${c}.${d}:${port}`
      return r.action === 'deny'
    }
  ), { numRuns: RUNS })
  t.pass(`${RUNS} cases`)
})

t.test('arbitrary host strings never throw and never proxy outside the policy', async t => {
  fc.assert(fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[0-9a-z.:-]{0,60}\.uap\.example\.org\.?(:\d{1,6})?$/)), host => {
    const r = decide(table, { host, url: '/', listener: 'h', tls: true })
    if (r.action !== 'proxy') return true
    const m = /^https?:\/\/(\d+)\.(\d+)\.(\d+)\.(\d+):(\d+)$/.exec(r.target)
    return m !== null && inPolicy(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[5]))
  }), { numRuns: RUNS })
  t.pass(`${RUNS} cases`)
  figure({ case: 'UAP host property', tried: 'fast-check: well-formed UAP labels (any scheme prefix, address, port) against a policy oracle, then arbitrary strings and near-miss hosts', count: 2 * RUNS, result: 'no throw; proxied exactly when inside the allowed CIDRs and ports, to the address and scheme the label names' })
})

