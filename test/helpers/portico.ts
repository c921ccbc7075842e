import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import net from 'node:net'
import { isMap, isSeq, parseDocument } from 'yaml'

/** The real portico binary, as built by `npm run build` (pretest builds it). */
export const CLI = resolve(import.meta.dirname, '../../dist/cli.js')

export interface LogLine { msg?: string, level?: number, [k: string]: unknown }

export interface Portico {
  dir: string
  configFile: string
  child: ChildProcess
  logs: LogLine[]
  stderr: string[]
  /** Bound listeners by name (from the "portico ready" log line). */
  ports: Record<string, number>
  adminUrl: string
  waitForLog (pred: (l: LogLine) => boolean, timeoutMs?: number, from?: number): Promise<LogLine>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  stop (signal?: NodeJS.Signals): Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

export interface StartOptions {
  /** Config YAML; `${STATE}` is replaced with a state dir inside the temp dir. */
  config: string
  args?: string[]
  dir?: string
  expectReady?: boolean
  env?: NodeJS.ProcessEnv
}

export async function makeTempDir (prefix = 'portico-test-'): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return { dir, cleanup: async () => await rm(dir, { recursive: true, force: true }) }
}

/**
 * PORTICO_TEST_ENGINE=node (or =portico, the default) runs every test that starts portico on that
 * HTTP/1.1 engine: each listener of the config gets it (unless the test chose an engine itself).
 * `httpConfig` adds it too, so configs written for reloads keep the same listener.
 */
function withTestEngine (config: string): string {
  const engine = process.env.PORTICO_TEST_ENGINE
  if (engine === undefined || engine === '') return config
  const doc = parseDocument(config)
  const listeners = doc.get('listeners')
  if (!isSeq(listeners)) return config
  for (const l of listeners.items) if (isMap(l) && !l.has('engine')) l.set('engine', engine)
  return doc.toString()
}

/**
 * How long a start may take. Generous: with several suites sharing 2 cores (load 25+), Node
 * alone took 12 s to the first log line, and a TLS or ACME config more than the 20 s allowed before.
 */
const READY_TIMEOUT_MS = 60_000

/** Spawns `portico run` on a config written to a temp dir and waits until it logs "portico ready". */
export async function startPortico (opts: StartOptions): Promise<Portico> {
  const dir = opts.dir ?? (await makeTempDir()).dir
  const configFile = join(dir, 'portico.yaml')
  await writeFile(configFile, withTestEngine(opts.config).replaceAll('${STATE}', join(dir, 'state')))
  const child = spawn(process.execPath, [CLI, 'run', '--config', configFile, ...(opts.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env }
  })
  const logs: LogLine[] = []
  const stderr: string[] = []
  const waiters = new Set<() => void>()
  createInterface({ input: child.stdout! }).on('line', line => {
    try { logs.push(JSON.parse(line) as LogLine) } catch { logs.push({ msg: line }) }
    for (const w of waiters) w()
  })
  createInterface({ input: child.stderr! }).on('line', line => { stderr.push(line); for (const w of waiters) w() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
    child.once('exit', (code, signal) => { for (const w of waiters) w(); resolve({ code, signal }) })
  })
  const waitForLog = async (pred: (l: LogLine) => boolean, timeoutMs = 10_000, from = 0): Promise<LogLine> => {
    return await new Promise<LogLine>((resolve, reject) => {
      const check = (): void => {
        const hit = logs.slice(from).find(pred)
        if (hit !== undefined) { done(); resolve(hit) } else if (child.exitCode !== null) { done(); reject(new Error(`portico exited (${child.exitCode}) before the expected log line; stderr: ${stderr.join('\n')}; logs: ${JSON.stringify(logs.slice(-5))}`)) }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`timed out waiting for log line; last logs: ${JSON.stringify(logs.slice(-5))}; stderr: ${stderr.join('\n')}`)) }, timeoutMs)
      const done = (): void => { clearTimeout(timer); waiters.delete(check) }
      waiters.add(check)
      check()
    })
  }
  const p: Portico = {
    dir, configFile, child, logs, stderr, ports: {}, adminUrl: '', waitForLog, exited,
    async stop (signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      const r = await exited
      clearTimeout(timer)
      return r
    }
  }
  if (opts.expectReady !== false) {
    const ready = await waitForLog(l => l.msg === 'portico ready', READY_TIMEOUT_MS).catch(async (err: Error) => {
      child.kill('SIGKILL')
      await exited
      throw err
    })
    for (const l of ready.listeners as Array<{ name: string, port: number }>) p.ports[l.name] = l.port
    const admin = ready.admin as { address: string, port: number } | null
    if (admin !== null) p.adminUrl = `http://${admin.address.includes(':') ? `[${admin.address}]` : admin.address}:${admin.port}`
  }
  return p
}

/** Runs a portico CLI command to completion. */
export async function runCli (args: string[], timeoutMs = 20_000): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const code = await new Promise<number | null>(resolve => child.once('exit', c => resolve(c)))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** A port that was free a moment ago (bound to port 0, then released). */
export async function freePort (host = '127.0.0.1'): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

/** The routes of a test that only needs an answer: every host gets 200 "ok". */
export const OK_ROUTES = '  - { host: "*", respond: { body: ok } }'

/** A listener of a test config: a name alone is plain HTTP on 127.0.0.1, port 0. */
export type ListenerSpec = string | { name: string, tls?: boolean, port?: number, host?: string, engine?: string }

export interface TestConfig {
  /** The `routes` list items (YAML, indented two spaces); none: no `routes` key. */
  routes?: string
  /** More top-level YAML (placed before `routes`). */
  extra?: string
  /** Default: one plain-HTTP listener `http`. */
  listeners?: readonly ListenerSpec[]
  /** The admin listener on loopback: true = port 0, a number = that port; or an address and token file. Default: none. */
  admin?: boolean | number | { address?: string, tokenFile?: string }
  /** The access log (default off); `log`: more keys of the `log` section. */
  access?: boolean
  log?: string
  /** Default `${STATE}`, the state dir startPortico makes in its temp dir. */
  stateDir?: string
  /** A self-signed certificate for these names. */
  selfSigned?: readonly string[]
  /** Certificates from files. */
  certs?: ReadonlyArray<{ certFile: string, keyFile: string }>
  /** More keys of the `tls` section. */
  tls?: string
}

function listenerLine (l: ListenerSpec): string {
  const { name, tls = false, port = 0, host = '127.0.0.1', engine = process.env.PORTICO_TEST_ENGINE ?? '' } = typeof l === 'string' ? { name: l } : l
  return `  - { name: ${name}, address: "${host}:${port}"${tls ? ', tls: true' : ''}${engine === '' ? '' : `, engine: ${engine}`} }`
}

function adminLine (admin: TestConfig['admin']): string {
  if (admin === undefined || admin === false) return 'admin: null'
  const a = typeof admin === 'object' ? admin : { address: `127.0.0.1:${admin === true ? 0 : admin}` }
  return `admin: { address: "${a.address ?? '127.0.0.1:0'}"${a.tokenFile === undefined ? '' : `, token_file: ${a.tokenFile}`} }`
}

function tlsSection (c: TestConfig): string {
  const lines = [
    ...(c.selfSigned === undefined ? [] : [`  self_signed: { names: [${c.selfSigned.join(', ')}] }`]),
    ...(c.certs === undefined ? [] : ['  certificates:', ...c.certs.map(x => `    - { cert_file: ${x.certFile}, key_file: ${x.keyFile} }`)]),
    ...(c.tls === undefined ? [] : [`  ${c.tls}`])
  ]
  return lines.length === 0 ? '' : `tls:\n${lines.join('\n')}\n`
}

/**
 * The one test config preamble: state dir, admin, log, listeners and certificates from options
 * (PORTICO_TEST_ENGINE puts listeners on the engine, as startPortico does), then `extra` and
 * the routes. Configs written for a reload come out the same as the first.
 */
export function testConfig (c: TestConfig = {}): string {
  return `
state_dir: ${c.stateDir ?? '${STATE}'}
${adminLine(c.admin)}
log: { level: info, access: ${c.access ?? false}${c.log === undefined ? '' : `, ${c.log}`} }
listeners:
${(c.listeners ?? ['http']).map(listenerLine).join('\n')}
${tlsSection(c)}${c.extra ?? ''}
${c.routes === undefined ? '' : `routes:\n${c.routes}\n`}`
}

/**
 * The usual test config: state in the temp dir, no admin listener, one plain-HTTP listener
 * named `http` on a free loopback port, then `extra` top-level YAML and the `routes` list items.
 */
export function httpConfig (routes: string, extra = ''): string {
  return testConfig({ routes, extra })
}

/**
 * Listeners `plain` and `tls` (both port 0, access log on) with a certificate from files; then
 * the `routes` list items.
 */
export function plainAndTlsConfig (cert: { certFile: string, keyFile: string }, routes: string): string {
  return testConfig({ routes, access: true, listeners: ['plain', { name: 'tls', tls: true }], certs: [cert] })
}

/**
 * The TLS preamble many tests repeat: state in the temp dir, no admin, a plain-HTTP listener
 * `http` and a TLS listener `https` (port 0 unless given) with a self-signed certificate for
 * `names`; then `extra` top-level YAML and the `routes` list items.
 */
export function tlsConfig (names: readonly string[], routes: string, extra = '', httpsPort = 0): string {
  return testConfig({ routes, extra, listeners: ['http', { name: 'https', tls: true, port: httpsPort }], selfSigned: names })
}
