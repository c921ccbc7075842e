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
import { runWsIdle } from './proxy/ws-idle.mjs'
import { porticoNodeFlags } from './proxy/peers.mjs'

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

const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version }
const stamp = `${new Date().toISOString()} — ${machine.cpus} × ${machine.cpu}, Node ${machine.node}`

/** bench/results/NAME.json (with date and machine) and NAME.md, echoed to stdout. */
function writeResult (name, json, md) {
  const out = new URL('./results/', import.meta.url)
  mkdirSync(out, { recursive: true })
  writeFileSync(new URL(`${name}.json`, out), JSON.stringify({ date: new Date().toISOString(), machine, ...json }, null, 2) + '\n')
  writeFileSync(new URL(`${name}.md`, out), md)
  process.stdout.write('\n' + md)
}

if (wants('route-decision')) routeDecision()
if (wants('dns')) await dnsBench()
if (wants('ws-idle')) await wsIdle()
try {
  const proxy = await runProxyBench(proxyOpts)
  if (proxy !== undefined) process.stdout.write('\n' + proxy.md)
} catch (e) {
  console.error(`\nbench: proxy benchmark FAILED: ${e.message}`)
  process.exit(1)
}

function routeDecision () {
  const results = runRouteDecision({ iterations: quick ? 300_000 : 3_000_000 })
  writeResult('route-decision', { results }, [
    '# Routing decision microbenchmark',
    '',
    stamp,
    '',
    '| case | action | ns/op |',
    '|---|---|---|',
    ...results.map(r => `| ${r.case} | ${r.action} | ${r.ns_per_op} |`),
    ''
  ].join('\n'))
}

async function dnsBench () {
  const dns = await runDnsBench({ seconds: quick ? 3 : 10 })
  const row = (name, r) => r.skipped !== undefined
    ? `| ${name} | skipped: ${r.skipped} | | | | | | |`
    : `| ${name} | ${r.qps} | ${r.completed_pct}% | ${r.lost} | ${r.avg_latency_ms.toFixed(2)} ms | ${r.noerror_pct}% | ${r.cpu_s} s | ${r.qps_per_cpu_s} |`
  writeResult('dns', { tool: 'dnsperf -c 4 -q 200', dns }, [
    '# DNS server (dnsperf, UDP, loopback)',
    '',
    `${stamp}; 1000 registered names, A queries (plus one NXDOMAIN name), dnsperf -c 4 -q 200; both servers in the same run.`,
    'portico runs its DNS server on a worker thread (as the daemon does), rate limit off; dnsmasq answers the same',
    'names from a hosts file (`--no-resolv --local=/zone/ --cache-size=0`). CPU: the server process\'s user + system time.',
    '',
    ...(dns.skipped !== undefined
      ? [`skipped: ${dns.skipped}`]
      : ['| server | queries/s | completed | lost | avg latency | NOERROR | CPU | queries per CPU-second |', '|---|---|---|---|---|---|---|---|',
          row('portico', dns.portico), row('dnsmasq', dns.dnsmasq), '',
          dns.ratio_per_cpu_s === undefined ? '' : `portico / dnsmasq per CPU-second: **${dns.ratio_per_cpu_s}×** (goal ≥ 0.5×)`]),
    ''
  ].join('\n'))
}

async function wsIdle () {
  const r = await runWsIdle({ wanted: quick ? 2_000 : 10_000 })
  writeResult('ws-idle', { ws_idle: r }, [
    '# Idle WebSocket tunnels: portico memory',
    '',
    `${stamp}; \`workers: 1\`, Node flags \`${porticoNodeFlags().join(' ') || '(none)'}\`; each tunnel proven with one echo, then idle 3 s; RSS of portico's process tree from /proc.`,
    '',
    '| tunnels wanted | opened | failed | open time | RSS before | RSS after | per tunnel | RSS at wanted |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| ${r.wanted} | ${r.open} | ${r.failed} | ${r.open_seconds} s | ${r.rss_before_mib} MiB | ${r.rss_after_mib} MiB | ${r.kib_per_tunnel} KiB | ${r.rss_at_wanted_mib} MiB |`,
    '',
    r.connections < r.wanted ? `The open-files limit (${r.connections * 2 + 500} descriptors usable) capped the run at ${r.connections} tunnels (two descriptors each); "RSS at wanted" extrapolates linearly.\n` : ''
  ].join('\n'))
}
