// Idle WebSocket memory: N tunnels through portico (client in this process, ws echo upstream),
// each proven with one echo, then left idle; portico's RSS (whole process tree, from /proc)
// before and after. Target from the performance issue: 10 000 idle tunnels < 250 MiB RSS.
import { readFileSync, readdirSync, writeFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import WebSocket from 'ws'
import { start, stop, freePort, waitPorts } from './proc.mjs'
import { porticoCommand } from './peers.mjs'

const rssKiB = pid => {
  const own = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
  const kids = readdirSync('/proc').filter(d => /^\d+$/.test(d)).filter(d => {
    try { return readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ')[1] === String(pid) } catch { return false }
  })
  return own + kids.reduce((n, k) => n + rssKiB(Number(k)), 0)
}

/** Each tunnel is two descriptors in portico: stay under the open-files limit we run with. */
const fdLimit = () => Number(/Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 1024)

/** `engine`: the listener's `engine` (node, or portico for the HTTP/1.1 engine of issue 21). */
export async function runWsIdle ({ wanted = 10_000, workers = 1, engine = 'node' } = {}) {
  const connections = Math.min(wanted, Math.floor((fdLimit() - 500) / 2))
  const dir = mkdtempSync(join(tmpdir(), 'portico-wsidle-'))
  const procs = []
  try {
    const wsPort = await freePort()
    const port = await freePort()
    const echo = start('ws echo', '0-1', process.execPath, [new URL('./ws-echo.mjs', import.meta.url).pathname, String(wsPort)])
    procs.push(echo)
    mkdirSync(join(dir, 'state'))
    writeFileSync(join(dir, 'portico.yaml'), `state_dir: ./state
admin: null
workers: ${workers}
log: {level: warn, access: false}
limits: {max_connections: null}
listeners: [{name: http, address: "127.0.0.1:${port}", engine: ${engine}}]
routes: [{name: ws, proxy: {upstreams: ["http://127.0.0.1:${wsPort}"]}}]
`)
    const cmd = porticoCommand(join(dir, 'portico.yaml'))
    const portico = start('portico', '0-1', cmd.cmd, cmd.args)
    procs.push(portico)
    await waitPorts(echo, [wsPort])
    await waitPorts(portico, [port], 20_000)
    await new Promise(resolve => setTimeout(resolve, 1000))
    const before = rssKiB(portico.pid)
    const sockets = []
    let failed = 0
    const started = Date.now()
    for (let i = 0; i < connections; i += 250) {
      await Promise.all(Array.from({ length: Math.min(250, connections - i) }, () => new Promise(resolve => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false })
        const timer = setTimeout(() => { failed++; ws.terminate(); resolve() }, 15_000)
        ws.on('open', () => ws.send('hi'))
        ws.once('message', () => { clearTimeout(timer); sockets.push(ws); resolve() })
        ws.on('error', () => { clearTimeout(timer); failed++; resolve() })
      })))
    }
    const openMs = Date.now() - started
    await new Promise(resolve => setTimeout(resolve, 3000)) // idle
    const after = rssKiB(portico.pid)
    for (const ws of sockets) ws.terminate()
    return {
      wanted, connections, open: sockets.length, failed, open_seconds: openMs / 1000, workers, engine,
      rss_before_mib: Math.round(before / 102.4) / 10,
      rss_after_mib: Math.round(after / 102.4) / 10,
      kib_per_tunnel: Math.round((after - before) / Math.max(1, sockets.length) * 10) / 10,
      // Linear extrapolation when the descriptor limit capped the count below `wanted`.
      rss_at_wanted_mib: Math.round((before + (after - before) / Math.max(1, sockets.length) * wanted) / 102.4) / 10
    }
  } finally {
    for (const p of procs.reverse()) await stop(p)
    rmSync(dir, { recursive: true, force: true })
  }
}
