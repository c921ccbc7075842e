// Microbenchmark of the routing decision (host normalisation, UAP label regex, integer CIDR and
// port checks), the part of the request path that portico adds over a plain proxy.
import { parseConfigText } from '../dist/config/index.js'
import { compileRouteTable, decide } from '../dist/router/index.js'

const table = compileRouteTable(parseConfigText(`
listeners: [{ name: https, address: "127.0.0.1:0" }]
routes:
  - { name: hoss-auth, host: hoss.example.org, path: /auth/v1, proxy: { upstreams: ["http://127.0.0.2:7001"] } }
  - { name: hoss-ui, host: hoss.example.org, proxy: { upstreams: ["http://127.0.0.2:7003"] } }
  - name: uap
    uap: { domain: uap.example.org, allow: [198.51.100.0/24, 203.0.113.0/24], ports: ["1-65535"] }
`, 'bench.yaml'))

const cases = {
  'uap allowed': { host: 'http-198-51-100-99-8888.uap.example.org', url: '/lab?token=x' },
  'uap denied (cidr)': { host: 'http-192-0-2-1-8888.uap.example.org', url: '/' },
  'uap malformed': { host: '999-1-1-1-80.uap.example.org', url: '/' },
  'path route': { host: 'hoss.example.org', url: '/auth/v1/login' },
  'no route': { host: 'unknown.example.org', url: '/' }
}

export function runRouteDecision ({ iterations = 2_000_000 } = {}) {
  const results = []
  for (const [name, c] of Object.entries(cases)) {
    const facts = { host: c.host, url: c.url, listener: 'https', tls: true }
    for (let i = 0; i < 200_000; i++) decide(table, facts) // warm-up (JIT)
    const start = process.hrtime.bigint()
    let sink = 0
    for (let i = 0; i < iterations; i++) sink += decide(table, facts).action.length
    const ns = Number(process.hrtime.bigint() - start) / iterations
    results.push({ case: name, ns_per_op: Math.round(ns), action: decide(table, facts).action, sink })
  }
  return results.map(({ sink, ...r }) => r)
}

if (import.meta.url === `file://${process.argv[1]}`) console.table(runRouteDecision())
