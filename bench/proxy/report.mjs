// Results → bench/results/latest.{json,md,svg}. The per-CPU-second figure (requests, websocket
// messages, or MB for the 1 MiB scenarios) is compared to nginx's in the same scenario.
import { writeFileSync, mkdirSync } from 'node:fs'

const OUT = new URL('../results/', import.meta.url)
const r1 = n => Number.isFinite(n) ? Math.round(n * 10) / 10 : null
const r3 = n => Number.isFinite(n) ? Math.round(n * 1000) / 1000 : null
const int = n => Number.isFinite(n) ? Math.round(n) : null
const fmtInt = n => Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–'
const fmt1 = n => Number.isFinite(n) ? n.toFixed(1) : '–'
const fmt2 = n => Number.isFinite(n) ? n.toFixed(2) : '–'

/** The figure a scenario is compared on, per CPU-second. */
export const perCpu = (sc, r) => sc.unit === 'bytes' ? r.mb_per_cpu : r.rps_per_cpu

/** The figure compared to nginx's: per CPU-second, or for latency scenarios p99 (lower is better). */
const compared = (sc, r) => sc.unit === 'latency' ? r.p99_ms : perCpu(sc, r)

function ratios (scenarios, results) {
  const out = new Map()
  for (const sc of scenarios) {
    const base = results.find(r => r.scenario === sc.name && r.label === 'nginx')
    for (const r of results.filter(x => x.scenario === sc.name)) {
      out.set(r, base && Number.isFinite(compared(sc, base)) && !base.failed ? compared(sc, r) / compared(sc, base) : NaN)
    }
  }
  return out
}

export function writeReports ({ machine, results, scenarios, meta }) {
  mkdirSync(OUT, { recursive: true })
  const date = new Date().toISOString()
  const json = {
    date,
    machine,
    results: results.map(r => ({
      scenario: r.scenario,
      server: r.server,
      ...(r.workers !== undefined ? { workers: r.workers } : {}),
      rps: int(r.rps),
      rps_per_cpu: int(r.rps_per_cpu),
      mb_s: r1(r.mb_s),
      mb_per_cpu: r1(r.mb_per_cpu),
      p50_ms: r3(r.p50_ms),
      p99_ms: r3(r.p99_ms),
      errors: r.errors
    }))
  }
  writeFileSync(new URL('latest.json', OUT), JSON.stringify(json, null, 2) + '\n')
  const ratio = ratios(scenarios, results)
  const md = markdown({ date, machine, results, scenarios, meta, ratio })
  writeFileSync(new URL('latest.md', OUT), md)
  writeFileSync(new URL('latest.svg', OUT), svg({ date, machine, results, scenarios, ratio }))
  return { md, json }
}

function markdown ({ date, machine, results, scenarios, meta, ratio }) {
  const v = machine.versions
  const lines = [
    '# Proxy benchmark',
    '',
    `${date} — ${machine.cores} × ${machine.cpu}, Node ${machine.node}; nginx ${v.nginx}, HAProxy ${v.haproxy}, Caddy ${v.caddy}, wrk ${v.wrk}, h2load ${v.h2load}, portico ${v.portico}.`,
    '',
    `${meta.quick ? '**Quick run** (indicative only): ' : ''}${meta.runs} run${meta.runs > 1 ? 's' : ''} of ${meta.duration} s per server and scenario (median), warm-up ${meta.warmup} s per scenario plus 1 s per server; ` +
      (meta.pinning ? 'server pinned to core 0, upstream and load generator to core 1. ' : 'single core: nothing pinned. ') +
      `Per CPU-second = requests (or MB, or websocket messages) ÷ user+system CPU seconds of the server's process tree during the measured run; "vs nginx" compares that figure. MB = 2^20 bytes. portico ran with Node flags \`${meta.porticoNodeFlags || '(none)'}\`. Took ${meta.seconds} s.` +
      (meta.filtered ? ' Filtered run (--only/--servers): not every scenario or server is shown.' : ''),
    ''
  ]
  for (const sc of scenarios) {
    const rows = results.filter(r => r.scenario === sc.name)
    if (rows.length === 0) continue
    const bytes = sc.unit === 'bytes'
    const ws = sc.tool === 'ws'
    lines.push(`## ${sc.name}`, '', sc.what, '')
    lines.push(`| server | ${bytes ? 'MB/s' : ws ? 'msg/s' : 'req/s'} | ${bytes ? 'MB' : ws ? 'msg' : 'req'} per CPU-s | ${sc.unit === 'latency' ? 'p99 vs nginx' : 'vs nginx'} | p50 ms | p99 ms | errors |`)
    lines.push('|---|---:|---:|---:|---:|---:|---|')
    for (const r of rows) {
      const rate = bytes ? fmt1(r.mb_s) : fmtInt(r.rps)
      const per = bytes ? fmt1(r.mb_per_cpu) : fmtInt(r.rps_per_cpu)
      const err = r.errors ? `**${r.errors}**${r.failed ? ` (${r.failed})` : ''}` : '0'
      lines.push(`| ${r.label} | ${rate} | ${per} | ${fmt2(ratio.get(r))} | ${fmt2(r.p50_ms)} | ${fmt2(r.p99_ms)} | ${err} |`)
    }
    lines.push('')
  }
  if (meta.notes.length) lines.push('## Notes', '', ...meta.notes.map(n => `- ${n}`), '')
  lines.push('Rows with errors are marked in bold: their figures are medians of the runs that completed, errors are the sum over all runs (for 502, responses other than 502/503 count as errors).', '')
  return lines.join('\n')
}

const COLORS = { portico: '#d9480f', nginx: '#2b8a3e', haproxy: '#1971c2', caddy: '#7048e8', 'http-proxy': '#868e96', 'node-floor': '#e8590c', direct: '#212529' }
const esc = s => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;')

/** Grouped bars: per scenario, each server's per-CPU figure relative to nginx (= 1.0). */
function svg ({ date, machine, results, scenarios, ratio }) {
  const labels = [...new Set(results.map(r => r.label))]
  const bw = 16
  const gap = 28
  const groupW = labels.length * bw + gap
  // Throughput only: a latency ratio (lower is better) does not belong on this scale.
  const shown = scenarios.filter(sc => sc.unit !== 'latency' && results.some(r => r.scenario === sc.name))
  const left = 50
  const top = 60
  const h = 300
  const width = Math.max(600, left + shown.length * groupW + 20)
  const maxV = Math.max(1.2, ...results.filter(r => shown.some(sc => sc.name === r.scenario)).map(r => ratio.get(r)).filter(Number.isFinite)) * 1.1
  const y = v => top + h - (v / maxV) * h
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top + h + 90}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">Throughput per CPU-second of the server, relative to nginx (= 1.0)</text>`,
    `<text x="${left}" y="38" fill="#555">${esc(date)} — ${machine.cores} × ${esc(machine.cpu)}; requests, MB (1 MiB scenarios) or websocket messages per CPU-second</text>`]
  for (let t = 0; t <= maxV; t += maxV > 4 ? 1 : 0.5) {
    out.push(`<line x1="${left}" x2="${width - 10}" y1="${y(t)}" y2="${y(t)}" stroke="${t === 1 ? '#333' : '#e9ecef'}"${t === 1 ? ' stroke-dasharray="4 3"' : ''}/>`,
      `<text x="${left - 6}" y="${y(t) + 4}" text-anchor="end">${t.toFixed(1)}</text>`)
  }
  shown.forEach((sc, i) => {
    const x0 = left + 10 + i * groupW
    labels.forEach((label, j) => {
      const r = results.find(x => x.scenario === sc.name && x.label === label)
      const v = r ? ratio.get(r) : NaN
      if (!Number.isFinite(v)) return
      const x = x0 + j * bw
      const color = COLORS[label] ?? (label.startsWith('portico') ? '#f76707' : '#495057')
      out.push(`<rect x="${x}" y="${y(v)}" width="${bw - 2}" height="${y(0) - y(v)}" fill="${color}"${r.errors ? ' fill-opacity="0.4" stroke="#c92a2a"' : ''}><title>${esc(label)} ${esc(sc.name)}: ${v.toFixed(2)}</title></rect>`,
        `<text x="${x + (bw - 2) / 2}" y="${y(v) - 3}" text-anchor="middle" font-size="8">${v.toFixed(v >= 10 ? 0 : v < 1 ? 2 : 1)}</text>`)
    })
    out.push(`<text x="${x0 + (labels.length * bw) / 2}" y="${top + h + 16}" text-anchor="middle" font-weight="bold">${esc(sc.name)}</text>`)
  })
  labels.forEach((label, j) => {
    const x = left + (j % 6) * 120
    const yy = top + h + 40 + Math.floor(j / 6) * 18
    out.push(`<rect x="${x}" y="${yy - 10}" width="12" height="12" fill="${COLORS[label] ?? (label.startsWith('portico') ? '#f76707' : '#495057')}"/>`, `<text x="${x + 16}" y="${yy}">${esc(label)}</text>`)
  })
  out.push('</svg>', '')
  return out.join('\n')
}
