// Proxy comparison: portico vs nginx, HAProxy, Caddy, a minimal node http-proxy and `direct`
// (load generator straight to the upstream). One server at a time: start it pinned to core 0,
// pre-flight check every route, then per scenario a warm-up and N measured runs with the load
// generator and the upstream pinned to core 1. Headline: requests (or MB) per CPU-second of the
// server's own process tree. Results: bench/results/latest.{md,json,svg}.
import { mkdtempSync, writeFileSync, mkdirSync, chmodSync, rmSync, readFileSync } from 'node:fs'
import { tmpdir, cpus } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import http from 'node:http'
import WebSocket from 'ws'
import { start, stop, waitPorts, freePort, installCleanup, PINNING } from './proc.mjs'
import { treeCpuSeconds } from './cpu.mjs'
import { wrk, h2load } from './wrk.mjs'
import { upstreamNginx, PEERS, porticoNodeFlags } from './peers.mjs'
import { SCENARIOS, MiB } from './scenarios.mjs'
import { writeReports } from './report.mjs'

const SERVER_CORE = PINNING ? '0' : undefined
const LOAD_CORE = PINNING ? '1' : undefined
const ALL_SERVERS = ['direct', 'nginx', 'haproxy', 'caddy', 'http-proxy', 'node-floor', 'portico', 'portico-engine']
// Peers that cannot do a scenario at all (rather than failing it): omitted from that row.
const FLOOR_ONLY = 'the node floor does no routing, upgrades or HTTP/2 (bench/proxy/node-floor-server.mjs)'
const UNSUPPORTED = {
  'http-proxy': { h2: 'http-proxy speaks HTTP/1.1 only' },
  'node-floor': Object.fromEntries(['h2', 'websocket', 'uap', 'path', '502'].map(s => [s, FLOOR_ONLY]))
}
const TOOLS = { nginx: ['nginx'], haproxy: ['haproxy'], caddy: ['caddy'], direct: [], 'http-proxy': [], 'node-floor': [], portico: [], 'portico-engine': [] }

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const median = xs => { const s = xs.filter(Number.isFinite).sort((a, b) => a - b); return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN }
const have = cmd => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0

function log (msg) { process.stderr.write(`[proxy-bench] ${msg}\n`) }

export async function runProxyBench ({ quick = false, only, servers, workers, runs, duration, warmup } = {}) {
  const opts = {
    runs: runs ?? (quick ? 1 : 3),
    duration: duration ?? (quick ? 2 : 4),
    warmup: warmup ?? (quick ? 0 : 1), // per scenario; every server also gets one 1 s warm-up at start
    quick
  }
  const scenarios = SCENARIOS.filter(s => only === undefined || only.includes(s.name))
  const serverList = ALL_SERVERS.filter(s => servers === undefined || servers.includes(s))
    .map(name => ({ name, label: name, workers: name.startsWith('portico') ? 1 : undefined }))
  if (workers !== undefined && workers !== 1 && (servers === undefined || servers.includes('portico') || servers.includes(`portico-w${workers}`))) {
    serverList.push({ name: 'portico', label: `portico-w${workers}`, workers })
  }
  if (scenarios.length === 0 || serverList.length === 0) return undefined

  for (const t of ['wrk', 'h2load', 'openssl', ...(PINNING ? ['taskset'] : []), 'nginx', ...serverList.flatMap(s => TOOLS[s.name])]) {
    if (!have(t)) throw new Error(`${t} is not installed (scripts/install-deps.sh installs the benchmark's packages)`)
  }

  const dir = mkdtempSync(join(tmpdir(), 'portico-proxybench-'))
  chmodSync(dir, 0o755) // the upstream nginx worker (nobody unless root) must read the files
  installCleanup(() => rmSync(dir, { recursive: true, force: true }))
  const tStart = Date.now()
  const procs = []
  try {
    // Content: a 60 B body, the same under /api/, and a 1 MiB file.
    const root = join(dir, 'www')
    mkdirSync(join(root, 'api'), { recursive: true })
    const small = 'portico bench: a small response body of sixty bytes. ok!!\n'.padEnd(60, '.')
    writeFileSync(join(root, 'small.txt'), small)
    writeFileSync(join(root, 'api', 'small.txt'), small)
    writeFileSync(join(root, '1mib.bin'), Buffer.alloc(MiB, 'z'))
    for (const f of ['www', 'www/api']) chmodSync(join(dir, f), 0o755)
    for (const f of ['www/small.txt', 'www/api/small.txt', 'www/1mib.bin']) chmodSync(join(dir, f), 0o644)

    // One self-signed ECDSA certificate shared by all peers; haproxy wants cert+key in one file.
    const cert = join(dir, 'cert.pem')
    const key = join(dir, 'key.pem')
    const ossl = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3',
      '-subj', '/CN=bench.test', '-addext', 'subjectAltName=DNS:bench.test,DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert], { encoding: 'utf8', timeout: 20000 })
    if (ossl.status !== 0) throw new Error(`openssl failed: ${ossl.stderr}`)
    const pem = join(dir, 'cert+key.pem')
    writeFileSync(pem, readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'))

    // Upscripts for wrk.
    const scripts = {
      upload: join(dir, 'upload.lua'),
      status502: join(dir, 'status502.lua')
    }
    writeFileSync(scripts.upload, `wrk.method = "POST"\nwrk.body = string.rep("u", ${MiB})\nwrk.headers["Content-Type"] = "application/octet-stream"\n`)
    // One thread (-t 1): the counters live in that thread's lua state and are read back in done().
    writeFileSync(scripts.status502, `local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) n502 = 0; other = 0 end
function response(status, headers, body) if status == 502 or status == 503 then n502 = n502 + 1 else other = other + 1 end end
function done(summary, latency, requests)
  local a, b = 0, 0
  for _, t in ipairs(threads) do a = a + t:get("n502"); b = b + t:get("other") end
  io.write(string.format("STATUS502 %d OTHER %d\\n", a, b))
end
`)

    // The shared upstreams on the load core.
    const upPort = await freePort()
    const wsPort = await freePort()
    const deadPort = await freePort() // nothing listens here
    const up = upstreamNginx({ dir, port: upPort, root })
    const upstream = start('upstream nginx', LOAD_CORE, up.cmd, up.args)
    procs.push(upstream)
    const wsEcho = start('ws echo upstream', LOAD_CORE, process.execPath, [new URL('./ws-echo.mjs', import.meta.url).pathname, String(wsPort)])
    procs.push(wsEcho)
    await waitPorts(upstream, [upPort])
    await waitPorts(wsEcho, [wsPort])

    const results = []
    const notes = []
    // p99-half: the offered load, half of nginx's closed-loop maximum, probed once per run.
    const offered = { rate: undefined, from: undefined }
    for (const server of serverList) {
      const ports = { http: await freePort(), https: await freePort() }
      let proc
      let target
      if (server.name === 'direct') {
        target = { http: upPort, ws: wsPort, tree: () => upstream.pid, wsTree: () => wsEcho.pid }
      } else {
        const spec = PEERS[server.name]({ dir, ...ports, cert, key, pem, upstream: upPort, ws: wsPort, dead: deadPort, workers: server.workers })
        log(`starting ${server.label}`)
        // N workers get every core (the load generator and upstream share core 1 with one of them):
        // the row shows what a second core buys in raw rps and what it costs per CPU-second.
        proc = start(server.label, server.workers > 1 && PINNING ? '0-1' : SERVER_CORE, spec.cmd, spec.args, { env: spec.env })
        if (server.workers > 1 && PINNING) notes.push(`${server.label}: ${server.workers} workers on all cores, sharing core 1 with the load generator and upstream (raw req/s shows what the second core buys; its per-CPU figure includes the primary and the contention)`)
        procs.push(proc)
        try {
          await waitPorts(proc, [ports.http, ports.https], 20000)
        } catch (e) {
          throw new Error(`${server.label} failed to start: ${e.message}`)
        }
        if (server.workers > 1) await sleep(1000) // let every worker come up, not just the first listener
        target = { http: ports.http, https: ports.https, ws: ports.http, tree: () => proc.pid, wsTree: () => proc.pid }
      }
      try {
        const failed = await preflight(server, target, upPort, scenarios, notes)
        for (const [scen, why] of Object.entries(failed)) notes.push(`${server.label} / ${scen}: pre-flight failed: ${why}`)
        await wrk({ core: LOAD_CORE, url: `http://127.0.0.1:${target.http}/small.txt`, connections: 50, seconds: 1 }) // first JIT/warm-up
        for (const sc of scenarios) {
          const dead = [proc, upstream, wsEcho].find(p => p?.exited)
          if (dead) throw new Error(`${dead.name} died during the ${server.label} runs (exit ${dead.exitCode}):\n${dead.output.trim()}`)
          if (server.name === 'direct' && sc.noDirect) continue
          const unsupported = UNSUPPORTED[server.name]?.[sc.name]
          if (unsupported) { notes.push(`${server.label} omitted from ${sc.name}: ${unsupported}`); continue }
          if (failed[sc.name] !== undefined) {
            results.push(row(sc, server, { rps: NaN, rps_per_cpu: NaN, mb_s: NaN, mb_per_cpu: NaN, p50_ms: NaN, p99_ms: NaN, errors: 1, failed: `pre-flight: ${failed[sc.name]}` }))
            continue
          }
          if (sc.tool === 'rate' && offered.rate === undefined) {
            // nginx comes first in the server order; without nginx in the run, the first server's maximum.
            const probe = await wrk({ core: LOAD_CORE, url: `http://127.0.0.1:${target.http}${sc.path}`, connections: 50, seconds: opts.duration })
            offered.rate = Math.max(sc.clients, Math.round(probe.requests / probe.seconds / 2))
            offered.from = server.label
            notes.push(`p99-half: offered load ${offered.rate} req/s, half of ${server.label}'s closed-loop maximum (${Math.round(probe.requests / probe.seconds)} req/s, wrk -c 50, ${opts.duration} s)`)
          }
          const r = await measure(sc, server, target, { ...opts, upPort, scripts, dir, offered: offered.rate })
          results.push(row(sc, server, r))
          log(`${sc.name.padEnd(12)} ${server.label.padEnd(12)} ${sc.unit === 'bytes' ? `${fmt(r.mb_s)} MB/s` : `${fmt(r.rps)} ${sc.tool === 'ws' ? 'msg/s' : 'req/s'}`}, ${fmt(sc.unit === 'bytes' ? r.mb_per_cpu : r.rps_per_cpu)} ${sc.unit === 'bytes' ? 'MB ' : ''}per CPU-s${r.errors ? `, ${r.errors} errors` : ''}`)
        }
      } finally {
        if (proc) await stop(proc)
        if (proc && proc.exitCode !== 0 && proc.exitCode !== 'SIGTERM' && proc.exitCode !== null && proc.exitCode !== 143) notes.push(`${server.label} exited with ${proc.exitCode} when stopped`)
      }
    }
    const versions = toolVersions()
    const machine = { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version, versions }
    const meta = { ...opts, porticoNodeFlags: porticoNodeFlags().join(' '), pinning: PINNING, seconds: Math.round((Date.now() - tStart) / 1000), notes, filtered: only !== undefined || servers !== undefined }
    return writeReports({ machine, results, scenarios, meta })
  } finally {
    for (const p of procs.reverse()) await stop(p)
    rmSync(dir, { recursive: true, force: true })
  }
}

const fmt = n => Number.isFinite(n) ? (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1)) : '–'

function row (sc, server, r) {
  return {
    scenario: sc.name,
    server: server.name,
    ...(server.workers !== undefined ? { workers: server.workers } : {}),
    label: server.label,
    rps: r.rps, rps_per_cpu: r.rps_per_cpu, mb_s: r.mb_s, mb_per_cpu: r.mb_per_cpu,
    p50_ms: r.p50_ms, p99_ms: r.p99_ms, errors: r.errors,
    runs: r.runs, failed: r.failed
  }
}

/** Warm-up, then `runs` measured runs; medians of each figure, errors summed over all runs. */
async function measure (sc, server, target, opts) {
  const runs = []
  let errors = 0
  const detail = []
  // ws-load warms up by itself (1 s) on every run.
  if (opts.warmup > 0 && sc.tool !== 'ws') await once(sc, server, target, { ...opts, duration: opts.warmup }).catch(() => {})
  for (let i = 0; i < opts.runs; i++) {
    try {
      const r = await once(sc, server, target, opts)
      runs.push(r)
      errors += r.errors
      if (r.errors) detail.push(r.errorDetail)
    } catch (e) {
      errors += 1
      detail.push(e.message.split('\n')[0])
    }
  }
  const m = k => median(runs.map(r => r[k]))
  return {
    rps: m('rps'), rps_per_cpu: m('rps_per_cpu'), mb_s: m('mb_s'), mb_per_cpu: m('mb_per_cpu'),
    p50_ms: m('p50_ms'), p99_ms: m('p99_ms'), errors, runs: runs.length,
    failed: runs.length === 0 ? detail.join('; ') : (errors ? detail.join('; ') : undefined)
  }
}

async function once (sc, server, target, opts) {
  if (sc.tool === 'ws') return wsOnce(sc, target, opts)
  const tree = target.tree()
  const scheme = sc.tls ? 'https' : 'http'
  const port = sc.tls ? target.https : target.http
  const url = `${scheme}://127.0.0.1:${port}${sc.path}`
  const headers = [...(sc.headers ?? [])]
  if (sc.uap) headers.push(`Host: http-127-0-0-1-${opts.upPort}.uap.bench.test`)
  const cpu0 = treeCpuSeconds(tree)
  const r = sc.tool === 'h2load'
    ? await h2load({ core: LOAD_CORE, url, clients: sc.clients, streams: sc.streams, seconds: opts.duration, tmp: opts.dir })
    : sc.tool === 'rate'
      ? await h2load({ core: LOAD_CORE, url, clients: sc.clients, streams: 1, seconds: opts.duration, tmp: opts.dir, h1: true, rps: Math.max(1, Math.round(opts.offered / sc.clients)) })
    : await wrk({ core: LOAD_CORE, url, connections: sc.connections, seconds: opts.duration, headers, script: sc.script ? opts.scripts[sc.script] : undefined })
  const cpu = treeCpuSeconds(tree) - cpu0
  if (sc.h2 && r.protocol !== 'h2') { r.socketErrors += r.requests; r.requests = 0 } // fell back to h1: not an h2 result
  let errors
  let errorDetail
  if (sc.expect502) {
    errors = r.socketErrors + (r.statusOther ?? r.requests)
    errorDetail = `socket errors ${r.socketErrors}, not 502/503 ${r.statusOther}`
  } else {
    errors = r.socketErrors + r.non2xx
    errorDetail = `socket errors ${r.socketErrors}, non-2xx ${r.non2xx}${r.protocol && sc.h2 && r.protocol !== 'h2' ? `, protocol ${r.protocol}` : ''}`
  }
  const good = sc.expect502 ? (r.status502 ?? 0) : r.requests - r.non2xx
  if (good === 0) { errors += 1; errorDetail += ', no successful responses at all' }
  const mb = sc.unit === 'bytes' ? good * sc.payload / MiB : r.bytes / MiB
  return {
    rps: good / r.seconds,
    rps_per_cpu: cpu > 0 ? good / cpu : NaN,
    mb_s: mb / r.seconds,
    mb_per_cpu: cpu > 0 ? mb / cpu : NaN,
    p50_ms: r.p50_ms, p99_ms: r.p99_ms, errors, errorDetail
  }
}

/** The websocket client runs as its own process on the load core; CPU is sampled at its markers. */
async function wsOnce (sc, target, opts) {
  const tree = target.wsTree()
  const script = new URL('./ws-load.mjs', import.meta.url).pathname
  const client = start('ws-load', LOAD_CORE, process.execPath, [script, `ws://127.0.0.1:${target.ws}${sc.path}`, String(sc.connections), '1', String(opts.duration)])
  let cpu0
  let cpu1
  let buf = ''
  const done = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('ws-load timed out')), (opts.duration + 40) * 1000)
    client.child.stdout.on('data', d => {
      buf += d
      if (cpu0 === undefined && buf.includes('measure-start\n')) cpu0 = treeCpuSeconds(tree)
      if (cpu1 === undefined && buf.includes('measure-end\n')) cpu1 = treeCpuSeconds(tree)
    })
    client.exitPromise.then(() => { clearTimeout(t); resolve() })
  })
  try { await done } finally { await stop(client, 1000) }
  const line = buf.split('\n').find(l => l.startsWith('{'))
  if (line === undefined || cpu0 === undefined || cpu1 === undefined) throw new Error(`ws-load failed: ${buf.trim()} ${client.output.trim()}`)
  const r = JSON.parse(line)
  const cpu = cpu1 - cpu0
  const mb = r.messages * 32 * 2 / MiB
  return {
    rps: r.messages / r.seconds,
    rps_per_cpu: cpu > 0 ? r.messages / cpu : NaN,
    mb_s: mb / r.seconds,
    mb_per_cpu: cpu > 0 ? mb / cpu : NaN,
    p50_ms: r.p50_ms, p99_ms: r.p99_ms, errors: r.errors,
    errorDetail: `${r.errors} websocket errors (${r.connected} connected)`
  }
}

// ---- pre-flight: every route answers as expected through this server, before any numbers ----

function request ({ port, path, method = 'GET', host, body }) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers: { ...(host ? { host } : {}), ...(body ? { 'content-length': body.length } : {}) }, agent: false, timeout: 5000 }, res => {
      let data = ''
      res.on('data', d => { data += d })
      res.on('end', () => resolve({ status: res.statusCode, body: data }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(body)
  })
}

function wsEcho (port) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`)
    const t = setTimeout(() => { ws.terminate(); reject(new Error('timeout')) }, 5000)
    ws.on('open', () => ws.send('ping-1'))
    ws.on('message', d => { clearTimeout(t); ws.close(); resolve(String(d)) })
    ws.on('error', e => { clearTimeout(t); reject(e) })
  })
}

async function preflight (server, target, upPort, scenarios, notes) {
  const want = new Set(scenarios.map(s => s.name))
  const failed = {}
  const check = async (names, fn) => {
    if (!names.some(n => want.has(n))) return
    try { const why = await fn(); if (why) for (const n of names) failed[n] = why } catch (e) { for (const n of names) failed[n] = e.message }
  }
  const port = target.http
  await check(['small', 'newconn', 'tls', 'h2', 'p99-half'], async () => { const r = await request({ port, path: '/small.txt' }); return r.status === 200 && r.body.length === 60 ? '' : `GET /small.txt → ${r.status}, ${r.body.length} B` })
  await check(['1mib'], async () => { const r = await request({ port, path: '/1mib.bin' }); return r.status === 200 && r.body.length === MiB ? '' : `GET /1mib.bin → ${r.status}, ${r.body.length} B` })
  await check(['upload-1mib'], async () => {
    const r = await request({ port, path: '/upload', method: 'POST', body: Buffer.alloc(MiB, 'u') })
    return r.status === 200 && r.body.trim() === `got ${MiB}` ? '' : `POST /upload → ${r.status} ${r.body.trim().slice(0, 80)}`
  })
  if (server.name === 'direct') return failed
  await check(['uap'], async () => { const r = await request({ port, path: '/small.txt', host: `http-127-0-0-1-${upPort}.uap.bench.test` }); return r.status === 200 && r.body.length === 60 ? '' : `uap host → ${r.status}` })
  await check(['path'], async () => { const r = await request({ port, path: '/api/small.txt' }); return r.status === 200 && r.body.length === 60 ? '' : `GET /api/small.txt → ${r.status}` })
  await check(['502'], async () => {
    const r = await request({ port, path: '/dead/small.txt' })
    if (r.status === 503) notes.push(`${server.label} answers 503 (not 502) when the upstream refuses; counted as the expected status in 502`)
    return r.status === 502 || r.status === 503 ? '' : `GET /dead/small.txt → ${r.status} (want 502)`
  })
  await check(['websocket'], async () => { const m = await wsEcho(target.ws); return m === 'ping-1' ? '' : `echo returned ${m}` })
  return failed
}

function toolVersions () {
  const v = (cmd, args, re) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10000 })
    return re.exec((r.stdout ?? '') + (r.stderr ?? ''))?.[1] ?? null
  }
  return {
    nginx: v('nginx', ['-v'], /nginx\/(\S+)/),
    haproxy: v('haproxy', ['-v'], /HAProxy version (\S+)/),
    caddy: v('caddy', ['version'], /^v?(\S+)/),
    wrk: v('wrk', ['-v'], /wrk (\S+)/),
    h2load: v('h2load', ['--version'], /nghttp2\/(\S+)/),
    portico: v(process.execPath, [new URL('../../dist/cli.js', import.meta.url).pathname, 'version'], /(\d+\.\d+\.\d+\S*)/)
  }
}
