import t from 'tap'
import fc from 'fast-check'
import { compileIpPolicy } from '../../src/router/index.js'
import { figure, scaled } from '../helpers/figures.js'

// Property: for random CIDR lists (IPv4 and IPv6) and random addresses, the compiled policy
// never throws and denies exactly the addresses outside every CIDR, by an independent oracle
// (BigInt prefix comparison).
const RUNS = scaled(5000)
const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map(b => b.join('.'))
const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map(w => w.map(x => x.toString(16)).join(':'))
const v4Cidr = fc.tuple(v4, fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`)
const v6Cidr = fc.tuple(v6, fc.integer({ min: 0, max: 128 })).map(([a, p]) => `${a}/${p}`)

const toBig = (ip: string): { v6: boolean, n: bigint } => ip.includes(':')
  ? { v6: true, n: ip.split(':').reduce((n, w) => (n << 16n) | BigInt(parseInt(w, 16)), 0n) }
  : { v6: false, n: ip.split('.').reduce((n, b) => (n << 8n) | BigInt(Number(b)), 0n) }

function inCidr (ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/') as [string, string]
  const a = toBig(ip)
  const b = toBig(base)
  if (a.v6 !== b.v6) return false
  const width = a.v6 ? 128n : 32n
  const shift = width - BigInt(Number(bits))
  return (a.n >> shift) === (b.n >> shift)
}

t.test('CIDR policy: denial exactly outside the networks, never a throw', async t => {
  fc.assert(fc.property(
    fc.array(fc.oneof(v4Cidr, v6Cidr), { minLength: 1, maxLength: 6 }),
    fc.oneof(v4, v6),
    fc.integer({ min: 1, max: 65535 }),
    (cidrs, ip, port) => {
      const policy = compileIpPolicy(cidrs, [{ from: 1, to: 65535 }])
      const denied = policy.check(ip, port) !== undefined
      return denied === !cidrs.some(c => inCidr(ip, c))
    }
  ), { numRuns: RUNS })
  t.pass(`${RUNS} cases`)
  figure({ case: 'CIDR policy (property)', tried: 'random IPv4/IPv6 CIDR lists and addresses (fast-check) against a BigInt prefix oracle', count: RUNS, result: 'no throw; denied exactly when outside every CIDR' })
})

t.test('CIDR policy: ports outside the ranges are denied inside the networks', async t => {
  fc.assert(fc.property(v4, fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }), (ip, x, y, port) => {
    const [from, to] = x <= y ? [x, y] : [y, x]
    const denied = compileIpPolicy(['0.0.0.0/0'], [{ from, to }]).check(ip, port) !== undefined
    return denied === (port < from || port > to)
  }), { numRuns: 2000 })
  t.pass('2000 cases')
})
