import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { CLI, makeTempDir } from './portico.js'

const RUNNER = resolve(import.meta.dirname, '../fixtures/netns-runner.mjs')

export interface NetnsRequest { host: string, headers?: Record<string, string>, path?: string, method?: string }
export interface NetnsSpec {
  config: string
  /** Extra addresses (besides 127.0.0.0/8 and ::1) put on the namespace's loopback. */
  addresses: string[]
  listeners: Array<{ host: string, port: number, tls?: { cert: string, key: string } }>
  requests: NetnsRequest[]
}
export interface NetnsResult {
  results: Array<{ status: number, body: string, headers: Record<string, string> }>
  connections: Record<string, number>
  requests: Record<string, number>
}

/**
 * Runs portico and the spec's requests inside a fresh network namespace (`unshare --net`) whose
 * only interface is loopback: hostile targets that name non-loopback addresses can be refused
 * — or, if a bug let them through, reach only listeners inside the namespace, never the network.
 */
export async function runInLoopbackNamespace (spec: NetnsSpec, timeoutMs = 90_000): Promise<NetnsResult> {
  const { dir, cleanup } = await makeTempDir('portico-netns-spec-')
  try {
    const file = join(dir, 'spec.json')
    await writeFile(file, JSON.stringify({ ...spec, cli: CLI }))
    const setup = ['ip link set lo up', ...spec.addresses.map(a => `ip addr add ${a}/${a.includes(':') ? 128 : 32} dev lo`)].join(' && ')
    const child = spawn('unshare', ['--net', '--fork', '--kill-child', '--', 'sh', '-c', `${setup} && exec "$0" "$@"`, process.execPath, RUNNER, file], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
    clearTimeout(timer)
    if (code !== 0) throw new Error(`namespace runner exited ${code}: ${err}`)
    return JSON.parse(out.trim().split('\n').pop() ?? '{}') as NetnsResult
  } finally {
    await cleanup()
  }
}
