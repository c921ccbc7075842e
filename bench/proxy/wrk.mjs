// Load generators: wrk (HTTP/1.1, plain and TLS) and h2load (HTTP/2), one thread each, pinned to the
// load core. Their text output is parsed into { requests, seconds, bytes, p50_ms, p99_ms, errors }.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run } from './proc.mjs'

const UNITS = { us: 0.001, ms: 1, s: 1000, m: 60000 }
const toMs = (n, u) => Number(n) * UNITS[u]
const BYTES = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }

export function parseWrk (out) {
  const req = /(\d+) requests in ([\d.]+)(us|ms|s|m), ([\d.]+)([KMGT]?B) read/.exec(out)
  if (req === null) throw new Error(`cannot parse wrk output:\n${out}`)
  const lat = p => { const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)`, 'm').exec(out); return m ? toMs(m[1], m[2]) : NaN }
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const socketErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  const st = /STATUS502 (\d+) OTHER (\d+)/.exec(out) // only with the 502 counting script
  return {
    requests: Number(req[1]),
    seconds: toMs(req[2], req[3]) / 1000,
    bytes: Number(req[4]) * BYTES[req[5]],
    p50_ms: lat(50),
    p99_ms: lat(99),
    socketErrors,
    non2xx,
    status502: st ? Number(st[1]) : undefined,
    statusOther: st ? Number(st[2]) : undefined
  }
}

/** wrk -t1 against `url`; `script` is a lua file, `headers` extra header lines. */
export async function wrk ({ core, url, connections, seconds, headers = [], script, timeoutMs }) {
  const args = ['-t', '1', '-c', String(connections), '-d', `${seconds}s`, '--timeout', '5s', '--latency']
  for (const h of headers) args.push('-H', h)
  if (script) args.push('-s', script)
  args.push(url)
  const r = await run(core, 'wrk', args, { timeoutMs: timeoutMs ?? (seconds + 30) * 1000 })
  if (r.code !== 0) throw new Error(`wrk exited ${r.code}: ${r.stderr || r.stdout}`)
  return parseWrk(r.stdout)
}

/**
 * h2load over TLS (h2 via ALPN); percentiles come from its per-request log file. `h1` forces
 * HTTP/1.1; `rps` paces each client to that many requests per second (a fixed offered load).
 */
export async function h2load ({ core, url, clients, streams, seconds, tmp, timeoutMs, h1 = false, rps }) {
  const log = join(tmp, `h2load-${process.hrtime.bigint()}.log`)
  const args = ['-t', '1', '-c', String(clients), '-m', String(streams), '-D', String(seconds), '--log-file', log]
  if (h1) args.push('--h1')
  if (rps !== undefined) args.push('--rps', String(rps))
  args.push(url)
  const r = await run(core, 'h2load', args, { timeoutMs: timeoutMs ?? (seconds + 30) * 1000 })
  const out = r.stdout
  const fin = /finished in ([\d.]+)(us|ms|s), ([\d.]+) req\/s/.exec(out)
  const reqs = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out)
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out)
  const traffic = /traffic: ([\d.]+)([KMGT]?B) \((\d+)\) total/.exec(out)
  if (fin === null || reqs === null) throw new Error(`h2load failed (exit ${r.code}):\n${out}\n${r.stderr}`)
  const proto = /Application protocol: (\S+)/.exec(out)?.[1]
  // Log lines: start-time-us \t status \t duration-us (one per request done).
  let durations = []
  try {
    durations = readFileSync(log, 'utf8').split('\n').filter(Boolean).map(l => Number(l.split('\t')[2]) / 1000).sort((a, b) => a - b)
    writeFileSync(log, '') // can be tens of MB; free the temp space early
  } catch { /* no log: no percentiles */ }
  const pct = q => durations.length ? durations[Math.min(durations.length - 1, Math.floor(q * durations.length))] : NaN
  const succeeded = Number(reqs[4])
  return {
    requests: succeeded,
    seconds: toMs(fin[1], fin[2]) / 1000,
    bytes: traffic ? Number(traffic[3]) : 0,
    p50_ms: pct(0.5),
    p99_ms: pct(0.99),
    socketErrors: Number(reqs[5]) + Number(reqs[6]) + Number(reqs[7]),
    non2xx: codes ? Number(codes[2]) + Number(codes[3]) + Number(codes[4]) : 0,
    protocol: proto
  }
}
