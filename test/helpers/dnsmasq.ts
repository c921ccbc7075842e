import { spawn } from 'node:child_process'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { freePort } from './portico.js'

const run = promisify(execFile)

export interface Dnsmasq {
  address: string
  port: number
  /** How many queries dnsmasq logged for `name` (and `type`, e.g. 'A', when given). */
  queries: (name: string, type?: string) => number
  stop: () => Promise<void>
}

/**
 * A real resolver on loopback that never leaves it: dnsmasq with no upstreams (--no-resolv, no
 * hosts file), answering only the records in `args` (--address, --txt-record, --ptr-record…),
 * logging every query so tests can count what reached it.
 */
export async function startDnsmasq (address: string, args: readonly string[]): Promise<Dnsmasq> {
  const port = await freePort(address)
  const child = spawn('dnsmasq', [
    '--no-daemon', '--port', String(port), '--listen-address', address, '--bind-interfaces', '--no-resolv', '--no-hosts',
    '--conf-file=/dev/null', '--log-queries', '--log-facility=-', '--pid-file=', ...args
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  const collect = (b: Buffer): void => { log += b.toString() }
  child.stdout.on('data', collect)
  child.stderr.on('data', collect)
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dnsmasq exited: ${log}`)
    const ok = await run('dig', [`@${address}`, '-p', String(port), '+time=1', '+tries=1', 'probe.invalid']).then(() => true, () => false)
    if (ok) break
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`dnsmasq not ready: ${log}`) }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return {
    address,
    port,
    queries: (name, type) => log.split('\n').filter(l => l.includes(type === undefined ? 'query[' : `query[${type}]`) && l.includes(` ${name} from `)).length,
    stop: async () => {
      if (child.exitCode !== null) return
      const done = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGKILL')
      await done
    }
  }
}
