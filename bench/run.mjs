// `npm run bench`: benchmarks, results written to bench/results/. For now the routing-decision
// microbenchmark; the proxy comparison against nginx/HAProxy/Caddy lands with its issue.
import { writeFileSync, mkdirSync } from 'node:fs'
import { cpus } from 'node:os'
import { runRouteDecision } from './route-decision.mjs'

const quick = process.argv.includes('--quick')
const results = runRouteDecision({ iterations: quick ? 300_000 : 3_000_000 })
const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version }
const out = new URL('./results/', import.meta.url)
mkdirSync(out, { recursive: true })
writeFileSync(new URL('route-decision.json', out), JSON.stringify({ date: new Date().toISOString(), machine, results }, null, 2) + '\n')
const md = [
  '# Routing decision microbenchmark',
  '',
  `${new Date().toISOString()} — ${machine.cpus} × ${machine.cpu}, Node ${machine.node}`,
  '',
  '| case | action | ns/op |',
  '|---|---|---|',
  ...results.map(r => `| ${r.case} | ${r.action} | ${r.ns_per_op} |`),
  ''
].join('\n')
writeFileSync(new URL('route-decision.md', out), md)
process.stdout.write(md)
