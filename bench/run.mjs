// `npm run bench`: benchmarks, results written to bench/results/. For now the routing-decision
// microbenchmark; the proxy comparison against nginx/HAProxy/Caddy lands with its issue.
import { writeFileSync, mkdirSync } from 'node:fs'
import { cpus } from 'node:os'
import { runRouteDecision } from './route-decision.mjs'
import { runDnsBench } from './dns.mjs'

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

const dns = await runDnsBench({ seconds: quick ? 3 : 10 })
writeFileSync(new URL('dns.json', out), JSON.stringify({ date: new Date().toISOString(), machine, tool: 'dnsperf -c 4 -q 200', dns }, null, 2) + '\n')
const dnsMd = [
  '# DNS server (dnsperf, UDP, loopback)',
  '',
  `${new Date().toISOString()} — ${machine.cpus} × ${machine.cpu}, Node ${machine.node}; 1000 registered names, A queries (plus one NXDOMAIN name), dnsperf -c 4 -q 200`,
  '',
  dns.skipped !== undefined ? `skipped: ${dns.skipped}` : `| queries/s | completed | lost | avg latency | NOERROR |\n|---|---|---|---|---|\n| ${dns.qps} | ${dns.completed_pct}% | ${dns.lost} | ${dns.avg_latency_ms.toFixed(2)} ms | ${dns.noerror_pct}% |`,
  ''
].join('\n')
writeFileSync(new URL('dns.md', out), dnsMd)
process.stdout.write('\n' + dnsMd)
