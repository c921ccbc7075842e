// A/B of the young-generation cap portico ships with (docs/ARCHITECTURE.md#memory): Node's
// default semi-spaces against SHIPPED_NODE_FLAGS, interleaved rounds of portico-only proxy
// scenarios plus the idle-websocket memory run. Writes results/young-generation.{md,json} and
// leaves latest.* and ws-idle.* as they were. `npm run build && node bench/young-generation.mjs [--rounds=N]`
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { cpus } from 'node:os'
import { SHIPPED_NODE_FLAGS } from './proxy/peers.mjs'

const rounds = Number(/^--rounds=(\d+)$/.exec(process.argv[2] ?? '')?.[1] ?? 3)
const SCENARIOS = ['small', '1mib', 'upload-1mib', 'h2', 'websocket']
const variants = [{ name: 'Node default', flags: '' }, { name: `shipped (${SHIPPED_NODE_FLAGS})`, flags: SHIPPED_NODE_FLAGS }]
const results = new URL('./results/', import.meta.url)
const kept = ['latest.json', 'latest.md', 'latest.svg', 'ws-idle.json', 'ws-idle.md']
  .map(f => [f, existsSync(new URL(f, results)) ? readFileSync(new URL(f, results)) : undefined])
const rows = [] // { variant, round, scenario, value }
try {
  for (let round = 1; round <= rounds; round++) {
    for (const v of variants) {
      process.stdout.write(`round ${round}/${rounds}: ${v.name}\n`)
      const run = spawnSync(process.execPath, [new URL('./run.mjs', import.meta.url).pathname, `--only=${SCENARIOS.join(',')},ws-idle`, '--servers=portico', '--runs=1', '--duration=6', '--warmup=2'],
        { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, PORTICO_BENCH_NODE_FLAGS: v.flags }, timeout: 15 * 60_000 })
      if (run.status !== 0) throw new Error(`bench/run.mjs exited ${run.status ?? run.signal}`)
      const latest = JSON.parse(readFileSync(new URL('latest.json', results), 'utf8'))
      for (const r of latest.results) {
        if (r.server === 'portico' && SCENARIOS.includes(r.scenario)) rows.push({ variant: v.name, round, scenario: r.scenario, value: ['1mib', 'upload-1mib'].includes(r.scenario) ? r.mb_per_cpu : r.rps_per_cpu })
      }
      const idle = JSON.parse(readFileSync(new URL('ws-idle.json', results), 'utf8'))
      rows.push({ variant: v.name, round, scenario: 'ws-idle', value: idle.ws_idle.rss_at_wanted_mib })
    }
  }
} finally {
  for (const [f, content] of kept) if (content !== undefined) writeFileSync(new URL(f, results), content)
}
const median = xs => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2 }
const units = { '1mib': 'MB per CPU-s', 'upload-1mib': 'MB per CPU-s', 'ws-idle': 'MiB RSS at 10 000 idle tunnels, lower is better' }
const table = [...SCENARIOS, 'ws-idle'].map(sc => {
  const per = variants.map(v => rows.filter(r => r.variant === v.name && r.scenario === sc).map(r => r.value))
  return `| ${sc} (${units[sc] ?? 'per CPU-s'}) | ${per.map(vals => `${median(vals)} (${vals.join(', ')})`).join(' | ')} |`
})
const stamp = `${new Date().toISOString()} — ${cpus().length} × ${cpus()[0]?.model}, Node ${process.version}`
const md = ['# Young-generation cap: A/B', '', `${stamp}; ${rounds} interleaved rounds, portico alone, \`workers: 1\`, 1 run × 6 s per scenario (bench/young-generation.mjs). Median (each round).`, '',
  `| scenario | ${variants.map(v => v.name).join(' | ')} |`, '|---|---:|---:|', ...table, ''].join('\n')
writeFileSync(new URL('young-generation.md', results), md)
writeFileSync(new URL('young-generation.json', results), JSON.stringify({ date: new Date().toISOString(), rounds, variants, rows }, null, 2) + '\n')
process.stdout.write('\n' + md)
