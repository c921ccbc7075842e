// DNS server throughput with dnsperf (Debian `dnsperf`) on loopback: portico's real DNS server
// (dns2, UDP) answering A queries from a registry of 1000 container names.
import { execFile, spawnSync } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NameRegistry, startDnsServer } from '../dist/dns/index.js'

export async function runDnsBench ({ seconds = 10 } = {}) {
  if (spawnSync('sh', ['-c', 'command -v dnsperf']).status !== 0) return { skipped: 'dnsperf not installed (scripts/install-deps.sh)' }
  const registry = new NameRegistry({ zone: 'hpc.internal', namePattern: /^(?<tenant>[a-z0-9]+)-(?<service>[a-z0-9-]+)$/, preferredNetwork: undefined, requireHealthy: false })
  for (let i = 0; i < 1000; i++) {
    registry.upsert({ id: String(i), name: `t${i}-nginx`, labels: {}, running: true, health: undefined, networks: { n: { ipv4: `172.29.${i >> 8}.${i & 255}`, ipv6: undefined } } })
  }
  const server = await startDnsServer({ address: '127.0.0.1', port: 0, zone: 'hpc.internal', ttlSeconds: 5, table: () => registry.table })
  const dir = mkdtempSync(join(tmpdir(), 'portico-dnsperf-'))
  const data = join(dir, 'queries')
  writeFileSync(data, Array.from({ length: 1000 }, (_, i) => `nginx.t${i}.hpc.internal A`).join('\n') + '\nmissing.t1.hpc.internal A\n')
  try {
    // Async: the server under test answers from this same event loop.
    const { stdout: out } = await promisify(execFile)('dnsperf', ['-s', '127.0.0.1', '-p', String(server.udpPort), '-d', data, '-l', String(seconds), '-c', '4', '-q', '200'], { timeout: (seconds + 30) * 1000 })
    const num = re => Number(re.exec(out)?.[1] ?? NaN)
    return {
      qps: Math.round(num(/Queries per second:\s+([\d.]+)/)),
      completed_pct: num(/Queries completed:\s+\d+ \(([\d.]+)%\)/),
      lost: num(/Queries lost:\s+(\d+)/),
      avg_latency_ms: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
      noerror_pct: num(/NOERROR \d+ \(([\d.]+)%\)/)
    }
  } finally {
    await server.close()
  }
}
