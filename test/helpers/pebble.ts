import { spawn, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { freePort, testConfig } from './portico.js'
import { makePki, type Pki } from './pki.js'
import type { Test } from 'tap'

export interface Pebble {
  directory: string
  /** CA of Pebble's own HTTPS listener (acme.ca_file). */
  caFile: string
  stop: () => Promise<void>
  /** SIGSTOP / SIGCONT: a stalled CA (accepts connections, answers nothing). */
  signal: (signal: NodeJS.Signals) => void
  /** Pebble's recent output (for failure messages). */
  log: () => string
  pid: number
  pki: Pki
}

async function waitUntil (what: string, ok: () => Promise<boolean>, child: ChildProcess, log: () => string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited ${child.exitCode}: ${log()}`)
    if (await ok().catch(() => false)) return
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`${what} not ready: ${log()}`)
}

function spawnLogged (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess, log: () => string } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let out = ''
  const keep = (b: Buffer): void => { out = (out + b.toString()).slice(-6000) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  return { child, log: () => out }
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const done = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGKILL')
  await done
}

/**
 * Let's Encrypt's test CA (Debian `pebble`) on loopback, validating against `dnsServer`.
 * `port`: reuse a directory address (a CA that comes back after going away).
 */
export async function startPebble (dir: string, opts: { dnsServer: string, httpPort: number, validitySeconds?: number, port?: number, nonceRejectPercent?: number, sameTlsAs?: Pebble }): Promise<Pebble> {
  // A second Pebble (a staging CA) can share the first one's HTTPS certificate: one acme.ca_file for both.
  const pki = opts.sameTlsAs?.pki ?? makePki(['localhost', '127.0.0.1'])
  const caFile = join(dir, 'pebble-ca.pem')
  await writeFile(caFile, pki.caCert)
  await writeFile(join(dir, 'pebble-cert.pem'), pki.cert)
  await writeFile(join(dir, 'pebble-key.pem'), pki.key)
  const port = opts.port ?? await freePort()
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${await freePort()}`,
      certificate: join(dir, 'pebble-cert.pem'),
      privateKey: join(dir, 'pebble-key.pem'),
      httpPort: opts.httpPort,
      tlsPort: await freePort(),
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(opts.validitySeconds === undefined ? {} : { certificateValidityPeriod: opts.validitySeconds })
    }
  }
  await writeFile(join(dir, 'pebble.json'), JSON.stringify(config))
  const { child, log } = spawnLogged('pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', opts.dnsServer],
    { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: String(opts.nonceRejectPercent ?? 0), PEBBLE_AUTHZREUSE: '0' })
  const directory = `https://127.0.0.1:${port}/dir`
  const agent = new Agent({ connect: { ca: pki.caCert } })
  await waitUntil('pebble', async () => (await request(directory, { dispatcher: agent })).statusCode === 200, child, log)
  await agent.close()
  return { directory, caFile, stop: async () => await stopChild(child), signal: s => { child.kill(s) }, log, pid: child.pid!, pki }
}

/** pebble-challtestsrv as a programmable DNS server (A → 127.0.0.1, TXT via its API). */
export async function startChallTestSrv (): Promise<{ dns: string, api: string, stop: () => Promise<void> }> {
  const dnsPort = await freePort()
  const mgmtPort = await freePort()
  const { child, log } = spawnLogged('pebble-challtestsrv', ['-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${mgmtPort}`])
  const api = `http://127.0.0.1:${mgmtPort}`
  await waitUntil('pebble-challtestsrv', async () => (await request(`${api}/clear-txt`, { method: 'POST', body: JSON.stringify({ host: 'probe.' }) })).statusCode < 500, child, log)
  return { dns: `127.0.0.1:${dnsPort}`, api, stop: async () => await stopChild(child) }
}

/** The `acme:` block for a test portico using this Pebble; `extra` adds provider sections. */
export function acmeConfig (p: { directory: string, caFile: string }, certificates: string, extra = ''): string {
  return `
acme:
  directory: ${p.directory}
  ca_file: ${p.caFile}
  email: ops@example.org
  retry: { min: 1s, max: 10s }
${extra}
  certificates:
${certificates}`
}

/**
 * The HTTP-01 setup: challtestsrv as Pebble's DNS, Pebble validating on `httpPort` (free ports
 * for portico's HTTP, HTTPS and admin listeners); everything stopped at teardown.
 */
export interface Http01Ca { pebble: Pebble, dns: string, httpPort: number, httpsPort: number, adminPort: number }

export async function http01Ca (t: Test, dir: string): Promise<Http01Ca> {
  const dns = await startChallTestSrv()
  t.teardown(dns.stop)
  const [httpPort, httpsPort, adminPort] = [await freePort(), await freePort(), await freePort()]
  const pebble = await startPebble(dir, { dnsServer: dns.dns, httpPort })
  t.teardown(pebble.stop)
  return { pebble, dns: dns.dns, httpPort, httpsPort, adminPort }
}

/**
 * portico's config for an `http01Ca`: HTTP + HTTPS + admin listeners, one www.test certificate;
 * `routes` as for testConfig, `top` more top-level YAML.
 */
export function http01Config (ca: Http01Ca, opts: { routes: string, top?: string, acmeExtra?: string }): string {
  return testConfig({
    admin: ca.adminPort,
    access: true,
    listeners: [{ name: 'http', port: ca.httpPort }, { name: 'https', tls: true, port: ca.httpsPort }],
    extra: `${opts.top ?? ''}\n${acmeConfig(ca.pebble, '    - { name: www.test, domains: [www.test], challenge: http-01 }', opts.acmeExtra ?? '')}`,
    routes: opts.routes
  })
}
