// `node bench/compress.mjs [--mb=N]` (after `npm run build`): CPU per MB and ratio of the `compress`
// encoders at the levels portico ships (gzip 6, brotli 4) next to the neighbours one might pick,
// through the same node:zlib streams and 64 KiB writes the request path uses. Corpora: portico's
// own built JavaScript (an SPA bundle stand-in) and an OpenStack-like JSON server list (the CCP's
// typical large answer). CPU is process user + system time (zlib runs on the libuv pool, which
// process.cpuUsage counts). Results: bench/results/compress.{md,json}.
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { cpus } from 'node:os'
import { constants, createBrotliCompress, createGzip } from 'node:zlib'

const mbArg = process.argv.find(a => a.startsWith('--mb='))
const targetMb = mbArg === undefined ? 64 : Number(mbArg.slice(5))

function jsCorpus () {
  const dist = new URL('../dist/', import.meta.url).pathname
  const files = readdirSync(dist, { recursive: true }).filter(f => String(f).endsWith('.js'))
  if (files.length === 0) throw new Error('no dist/: run npm run build first')
  return Buffer.concat(files.map(f => readFileSync(join(dist, String(f)))))
}

function jsonCorpus () {
  // Deterministic: the same bytes every run.
  const servers = Array.from({ length: 3000 }, (_, i) => ({
    id: `${(i * 2654435761 >>> 0).toString(16).padStart(8, '0')}-5c1e-4b7a-9f0e-${String(i).padStart(12, '0')}`,
    name: `exosphere-${['jupyter', 'rstudio', 'guac', 'worker'][i % 4]}-${i}`,
    status: i % 17 === 0 ? 'SHUTOFF' : 'ACTIVE',
    addresses: { [`net-${i % 5}`]: [{ version: 4, addr: `10.${i % 250}.${(i * 7) % 250}.${(i * 13) % 250}`, 'OS-EXT-IPS:type': 'fixed' }] },
    flavor: { vcpus: 1 << (i % 4), ram: 2048 << (i % 4), disk: 20 },
    metadata: { exoUserDataVariant: 'default', exoCreatorUsername: `user${i % 40}` },
    created: new Date(1_700_000_000_000 + i * 3_600_000).toISOString()
  }))
  return Buffer.from(JSON.stringify({ servers }))
}

const ENCODERS = [
  ['gzip 1', () => createGzip({ level: 1 })],
  ['gzip 6 (default)', () => createGzip({ level: 6 })],
  ['gzip 9', () => createGzip({ level: 9 })],
  ['brotli 1', () => brotli(1)],
  ['brotli 4 (default)', () => brotli(4)],
  ['brotli 6', () => brotli(6)],
  ['brotli 11', () => brotli(11)]
]

function brotli (q) {
  return createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: q, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT } })
}

/** Compresses the corpus `rounds` times, 64 KiB writes with backpressure; returns CPU ms and output bytes per round. */
async function measure (make, corpus, rounds) {
  let out = 0
  const before = process.cpuUsage()
  for (let r = 0; r < rounds; r++) {
    const enc = make()
    let bytes = 0
    enc.on('data', d => { bytes += d.length })
    const done = new Promise((resolve, reject) => { enc.once('end', resolve); enc.once('error', reject) })
    for (let i = 0; i < corpus.length; i += 65536) {
      if (!enc.write(corpus.subarray(i, i + 65536))) await new Promise(resolve => enc.once('drain', resolve))
    }
    enc.end()
    await done
    out = bytes
  }
  const cpu = process.cpuUsage(before)
  return { cpuMs: (cpu.user + cpu.system) / 1000, out }
}

const corpora = [['JavaScript (dist/)', jsCorpus()], ['JSON (server list)', jsonCorpus()]]
const results = []
for (const [corpusName, corpus] of corpora) {
  for (const [name, make] of ENCODERS) {
    // brotli 11 is ~100x slower: fewer rounds, same per-MB figure.
    const mb = name.startsWith('brotli 11') ? Math.max(2, targetMb / 16) : targetMb
    const rounds = Math.max(1, Math.round(mb * 1024 * 1024 / corpus.length))
    await measure(make, corpus, 1) // warm-up
    const { cpuMs, out } = await measure(make, corpus, rounds)
    const inMb = corpus.length * rounds / (1024 * 1024)
    results.push({ corpus: corpusName, encoder: name, input_bytes: corpus.length, output_bytes: out, ratio: +(corpus.length / out).toFixed(2), cpu_ms_per_mb: +(cpuMs / inMb).toFixed(2), mb_per_cpu_s: +(inMb / (cpuMs / 1000)).toFixed(1) })
  }
}

const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version }
const md = [
  '# Compression: CPU per MB and ratio (node:zlib streams, 64 KiB writes)',
  '',
  `${new Date().toISOString()} — ${machine.cpus} × ${machine.cpu}, Node ${machine.node}; ≈${targetMb} MB per row (brotli 11: less).`,
  '',
  '| corpus | encoder | input | output | ratio | CPU ms / MB | MB / CPU-s |',
  '|---|---|---|---|---|---|---|',
  ...results.map(r => `| ${r.corpus} | ${r.encoder} | ${r.input_bytes} | ${r.output_bytes} | ${r.ratio} | ${r.cpu_ms_per_mb} | ${r.mb_per_cpu_s} |`),
  ''
].join('\n')
const out = new URL('./results/', import.meta.url)
mkdirSync(out, { recursive: true })
writeFileSync(new URL('compress.json', out), JSON.stringify({ date: new Date().toISOString(), machine, results }, null, 2) + '\n')
writeFileSync(new URL('compress.md', out), md)
process.stdout.write(md)
