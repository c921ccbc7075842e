// DNS server throughput with dnsperf (Debian `dnsperf`) on loopback, in one run: portico's DNS
// server (on its worker thread, as the daemon runs it) and dnsmasq (Debian `dnsmasq-base`) as a
// peer, both answering A queries for 1000 names (plus one NXDOMAIN name). Besides queries per
// second, each server's CPU time gives queries per CPU-second (the fair figure on a 2-core box
// where dnsperf itself takes a core).
import { execFile, spawn, spawnSync } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import net from 'node:net'
import { NameRegistry, startDnsThread } from '../dist/dns/index.js'

const ZONE = 'hpc.internal'
const NAMES = 1000
const ip = i => `172.29.${i >> 8}.${i & 255}`
const has = cmd => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0

export async function runDnsBench ({ seconds = 10 } = {}) {
  if (!has('dnsperf')) return { skipped: 'dnsperf not installed (scripts/install-deps.sh)' }
  const dir = mkdtempSync(join(tmpdir(), 'portico-dnsperf-'))
  const data = join(dir, 'queries')
  writeFileSync(data, Array.from({ length: NAMES }, (_, i) => `nginx.t${i}.${ZONE} A`).join('\n') + `\nmissing.t1.${ZONE} A\n`)
  const results = { portico: await benchPortico(data, seconds) }
  results.dnsmasq = has('dnsmasq') ? await benchDnsmasq(dir, data, seconds) : { skipped: 'dnsmasq not installed (scripts/install-deps.sh)' }
  if (results.dnsmasq.qps_per_cpu_s !== undefined) results.ratio_per_cpu_s = +(results.portico.qps_per_cpu_s / results.dnsmasq.qps_per_cpu_s).toFixed(2)
  return results
}

async function benchPortico (data, seconds) {
  const registry = new NameRegistry({ zone: ZONE, namePattern: /^(?<tenant>[a-z0-9]+)-(?<service>[a-z0-9-]+)$/, preferredNetwork: undefined, requireHealthy: false })
  for (let i = 0; i < NAMES; i++) {
    registry.upsert({ id: String(i), name: `t${i}-nginx`, labels: {}, running: true, health: undefined, networks: { n: { ipv4: ip(i), ipv6: undefined } } })
  }
  const server = await startDnsThread({ address: '127.0.0.1', port: 0, zone: ZONE, ttlSeconds: 5, rateLimit: 0 })
  await server.setNames(registry.table)
  try {
    // This process does nothing else meanwhile: its CPU time is the DNS thread's.
    const before = process.cpuUsage()
    const out = await dnsperf(server.udpPort, data, seconds)
    const used = process.cpuUsage(before)
    return withCpu(out, (used.user + used.system) / 1e6)
  } finally {
    await server.close()
  }
}

async function benchDnsmasq (dir, data, seconds) {
  const hosts = join(dir, 'hosts')
  writeFileSync(hosts, Array.from({ length: NAMES }, (_, i) => `${ip(i)} nginx.t${i}.${ZONE}`).join('\n') + '\n')
  const port = await freeUdpTcpPort()
  // Authoritative-only: no upstreams, no /etc/hosts, answers from the hosts file, NXDOMAIN for the rest of the zone.
  const child = spawn('dnsmasq', ['--keep-in-foreground', '--no-resolv', '--no-hosts', `--addn-hosts=${hosts}`, `--local=/${ZONE}/`,
    '--listen-address=127.0.0.1', '--bind-interfaces', `--port=${port}`, '--pid-file=', '--user=root', '--cache-size=0', '--log-facility=-'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', d => { stderr += d })
  try {
    await new Promise(resolve => setTimeout(resolve, 500))
    if (child.exitCode !== null) return { skipped: `dnsmasq exited: ${stderr.trim()}` }
    const cpu = () => { const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / 100 }
    const before = cpu()
    const out = await dnsperf(port, data, seconds)
    return withCpu(out, cpu() - before)
  } finally {
    child.kill('SIGTERM')
  }
}

async function dnsperf (port, data, seconds) {
  const { stdout: out } = await promisify(execFile)('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', data, '-l', String(seconds), '-c', '4', '-q', '200'], { timeout: (seconds + 30) * 1000 })
  const num = re => Number(re.exec(out)?.[1] ?? NaN)
  return {
    qps: Math.round(num(/Queries per second:\s+([\d.]+)/)),
    completed_pct: num(/Queries completed:\s+\d+ \(([\d.]+)%\)/),
    lost: num(/Queries lost:\s+(\d+)/),
    avg_latency_ms: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    noerror_pct: num(/NOERROR \d+ \(([\d.]+)%\)/),
    completed: num(/Queries completed:\s+(\d+)/)
  }
}

const withCpu = (out, cpuSeconds) => ({ ...out, cpu_s: +cpuSeconds.toFixed(2), qps_per_cpu_s: Math.round(out.completed / Math.max(cpuSeconds, 0.01)) })

/** A port free for TCP now (dnsmasq binds UDP and TCP on it). */
async function freeUdpTcpPort () {
  return await new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) })
  })
}
