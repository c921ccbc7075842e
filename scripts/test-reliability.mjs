// `npm run test:reliability`: the reliability and security tests with their bounded loops scaled
// up (PORTICO_RELIABILITY_SCALE, default 10; the soak: PORTICO_SOAK_OPERATIONS, default 2
// million), then docs/RELIABILITY.md from the figures they record (test/helpers/figures.ts). Exit status is tap's.
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'

const FILES = [
  'test/unit/ip-policy-property.test.ts',
  'test/unit/uap-property.test.ts',
  'test/e2e/netns-uap.test.ts',
  'test/e2e/docker.test.ts',
  'test/e2e/dns-abuse.test.ts',
  'test/e2e/dns-forwarding.test.ts',
  'test/e2e/docker-hardening.test.ts',
  'test/e2e/acme.test.ts',
  'test/e2e/acme-year.test.ts',
  'test/e2e/smuggling.test.ts',
  'test/e2e/fuzz-heads.test.ts',
  'test/unit/engine-differential.test.ts',
  'test/e2e/limits.test.ts',
  'test/e2e/upstream-faults.test.ts',
  'test/e2e/reload-under-load.test.ts',
  'test/e2e/workers.test.ts',
  'test/e2e/request-targets.test.ts',
  'test/e2e/disk-faults.test.ts',
  'test/e2e/h2-abuse.test.ts',
  'test/e2e/uap-apps.test.ts',
  'test/e2e/proxy-retries.test.ts',
  'test/e2e/soak.test.ts'
]
const scale = process.env.PORTICO_RELIABILITY_SCALE ?? '10'
const figures = join(tmpdir(), `portico-figures-${process.pid}.jsonl`)
rmSync(figures, { force: true })
const started = Date.now()
const tap = spawnSync('tap', ['--jobs', '1', '--timeout', '3600', ...FILES], {
  stdio: 'inherit',
  // The soak's size is its own: 2 million operations (#10), whatever the scale.
  env: { PORTICO_SOAK_OPERATIONS: '2000000', ...process.env, PORTICO_RELIABILITY_SCALE: scale, PORTICO_FIGURES_FILE: figures }
})
const rows = existsSync(figures) ? readFileSync(figures, 'utf8').trim().split('\n').filter(Boolean).map(l => JSON.parse(l)) : []
rmSync(figures, { force: true })
const cell = s => String(s).replaceAll('|', '\\|').replaceAll('\n', ' ')
const md = [
  '# Reliability figures',
  '',
  'Written by `npm run test:reliability` (the reliability and security tests with their loops',
  `scaled ×${scale}, the soak at ${Number(process.env.PORTICO_SOAK_OPERATIONS ?? 2_000_000).toLocaleString('en')} operations); every row is a test that fails when its result is not as stated. The same`,
  'tests run at scale ×1 in `npm test`.',
  '',
  `Last run: ${new Date().toISOString()} — ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}, ` +
    `${((Date.now() - started) / 60_000).toFixed(1)} min, tap exit ${tap.status}.`,
  '',
  '| case | what was tried | count | result |',
  '|---|---|---:|---|',
  ...rows.map(r => `| ${cell(r.case)} | ${cell(r.tried)} | ${cell(r.count)} | ${cell(r.result)} |`),
  '',
  'Reading the soak row: the leak checks are the JS heap after forced full GCs (retained',
  'objects), the memory outside the V8 heap (RSS minus V8\'s committed heap: buffers, sockets,',
  'malloc) and the handle count. RSS itself also carries V8\'s young generation, which grows',
  'back to its cap after each forced GC and then stays; the heap probe (a heap snapshot) leaves',
  'malloc\'d memory behind, which is why RSS after the first probe is above RSS after warm-up.',
  'See docs/ARCHITECTURE.md#memory.',
  ''
].join('\n')
writeFileSync(new URL('../docs/RELIABILITY.md', import.meta.url), md)
process.stdout.write(`\n${md}`)
process.exit(tap.status ?? 1)
