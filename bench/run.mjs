// `npm run bench`: benchmarks, results written to bench/results/: the routing-decision
// microbenchmark, the DNS server (dnsperf) and the proxy comparison against nginx, HAProxy, Caddy,
// a node http-proxy and direct (bench/proxy/). See bench/README.md.
// Options: --quick, --only=scenario,... (proxy scenarios, `route-decision`, `dns`),
// --servers=portico,nginx,..., --workers N (extra portico row with N workers),
// --runs=N --duration=S --warmup=S (proxy runs).
import { writeFileSync, mkdirSync } from 'node:fs'
import { cpus } from 'node:os'
import { runRouteDecision } from './route-decision.mjs'
import { runDnsBench } from './dns.mjs'
import { runProxyBench } from './proxy/run-proxy-bench.mjs'

const argv = process.argv.slice(2)
const opt = name => {
  const i = argv.findIndex(a => a === `--${name}` || a.startsWith(`--${name}=`))
  if (i < 0) return undefined
  return argv[i].includes('=') ? argv[i].slice(argv[i].indexOf('=') + 1) : argv[i + 1]
}
const list = name => opt(name)?.split(',').map(s => s.trim()).filter(Boolean)
const int = name => { const v = opt(name); if (v === undefined) return undefined; const n = Number(v); if (!Number.isInteger(n) || n < 0) { console.error(`bench: --${name} wants an integer, got ${v}`); process.exit(2) } return n }
const quick = argv.includes('--quick')
const only = list('only')
const servers = list('servers')
const wants = name => only === undefined ? servers === undefined : only.includes(name)

const proxyOpts = { quick, only, servers, workers: int('workers'), runs: int('runs'), duration: int('duration'), warmup: int('warmup') }
if (proxyOpts.workers === 0 || proxyOpts.runs === 0 || proxyOpts.duration === 0) { console.error('bench: --workers, --runs and --duration must be ≥ 1'); process.exit(2) }

if (wants('route-decision')) routeDecision()
if (wants('dns')) await dnsBench()
try {
  const proxy = await runProxyBench(proxyOpts)
  if (proxy !== undefined) process.stdout.write('\n' + proxy.md)
} catch (e) {
  console.error(`\nbench: proxy benchmark FAILED: ${e.message}`)
  process.exit(1)
}

function routeDecision () {
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
}

async function dnsBench () {
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version }
  const out = new URL('./results/', import.meta.url)
  mkdirSync(out, { recursive: true })
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
}
