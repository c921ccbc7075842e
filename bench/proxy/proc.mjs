// Child processes of the harness: started in their own process group (so a whole server tree is
// killed at once), optionally pinned with taskset, every wait bounded, everything killed on exit,
// SIGINT or error.
import { spawn } from 'node:child_process'
import { createServer, connect } from 'node:net'
import { cpus } from 'node:os'

const live = new Set()
export const PINNING = cpus().length >= 2

/** taskset prefix for a core list ('0', '1', '0-1'); nothing on a 1-core machine. */
export function pinned (core, cmd, args) {
  return PINNING ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args]
}

/** Start a long-running process; its output is kept (tail) for error messages. */
export function start (name, core, cmd, args, { env, cwd } = {}) {
  const [c, a] = pinned(core, cmd, args)
  const child = spawn(c, a, { cwd, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  const p = { name, child, pid: child.pid, output: '', exited: false, exitCode: undefined }
  const keep = d => { p.output = (p.output + d).slice(-4000) }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  p.exitPromise = new Promise(resolve => child.on('exit', (code, signal) => { p.exited = true; p.exitCode = code ?? signal; live.delete(p); resolve() }))
  child.on('error', e => { keep(`spawn error: ${e.message}\n`); p.exited = true; live.delete(p) })
  live.add(p)
  return p
}

function killGroup (p, signal) {
  try { process.kill(-p.pid, signal) } catch { /* already gone */ }
}

/** SIGTERM the process group, SIGKILL after `graceMs`. */
export async function stop (p, graceMs = 3000) {
  if (p === undefined || p.exited) return
  killGroup(p, 'SIGTERM')
  const t = setTimeout(() => killGroup(p, 'SIGKILL'), graceMs)
  await Promise.race([p.exitPromise, new Promise(resolve => setTimeout(resolve, graceMs + 2000))])
  clearTimeout(t)
  killGroup(p, 'SIGKILL') // stragglers in the group (e.g. workers that ignored SIGTERM)
}

export function killAllSync () {
  for (const p of live) killGroup(p, 'SIGKILL')
}

let hooked = false
export function installCleanup (extra = () => {}) {
  if (hooked) return
  hooked = true
  process.on('exit', () => { killAllSync(); extra() })
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => { process.stderr.write(`\nbench: ${sig}, stopping servers\n`); killAllSync(); extra(); process.exit(130) })
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort () {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
  })
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

function canConnect (port) {
  return new Promise(resolve => {
    const s = connect({ host: '127.0.0.1', port })
    const done = ok => { s.destroy(); resolve(ok) }
    s.setTimeout(500, () => done(false))
    s.on('connect', () => done(true))
    s.on('error', () => done(false))
  })
}

/** Wait until every port accepts connections; throws with the process's output if it exits or times out. */
export async function waitPorts (p, ports, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs
  for (const port of ports) {
    for (;;) {
      if (p.exited) throw new Error(`${p.name} exited (${p.exitCode}) before listening on ${port}:\n${p.output.trim()}`)
      if (await canConnect(port)) break
      if (Date.now() > deadline) throw new Error(`${p.name} not listening on ${port} after ${timeoutMs} ms:\n${p.output.trim()}`)
      await sleep(100)
    }
  }
}

/** Run a command to completion (bounded), resolving with { code, stdout, stderr }. */
export function run (core, cmd, args, { timeoutMs = 60000, env } = {}) {
  const [c, a] = pinned(core, cmd, args)
  return new Promise((resolve, reject) => {
    const child = spawn(c, a, { env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    const p = { name: cmd, child, pid: child.pid, exited: false }
    live.add(p)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => { stdout += d })
    child.stderr.on('data', d => { stderr = (stderr + d).slice(-8000) })
    const t = setTimeout(() => { killGroup(p, 'SIGKILL'); reject(new Error(`${cmd} timed out after ${timeoutMs} ms`)) }, timeoutMs)
    child.on('error', e => { clearTimeout(t); live.delete(p); reject(e) })
    child.on('exit', code => { clearTimeout(t); live.delete(p); p.exited = true; resolve({ code, stdout, stderr }) })
  })
}
