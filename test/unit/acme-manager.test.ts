import t from 'tap'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ChallengeBoard, loadAcmeManager, writeCertificate, type AcmeManager } from '../../src/acme/index.js'
import { parseConfigText } from '../../src/config/index.js'
import { makePki } from '../helpers/pki.js'
import { freePort, makeTempDir } from '../helpers/portico.js'

interface Line { level: string, msg: string, o: Record<string, unknown> }

/**
 * The manager against a CA that is not there (a closed loopback port): what it schedules, when
 * it wakes and what it installs without ordering. The orders themselves are tested with Pebble.
 */
async function manager (dir: string, certificates = '[{ name: a.test, domains: [a.test], challenge: http-01 }]', extra = ''): Promise<{ m: AcmeManager, lines: Line[] }> {
  const config = parseConfigText(`
state_dir: ${dir}
listeners: [{ name: http, address: "127.0.0.1:0" }]
acme:
  directory: https://127.0.0.1:${await freePort()}/dir
  email: ops@example.org
  retry: { min: 1s, max: 10s }
  request_timeout: 2s
${extra}
  certificates: ${certificates}
`, join(dir, 'portico.yaml'))
  const lines: Line[] = []
  const log = (level: string) => (o: object, msg: string): void => { lines.push({ level, msg, o: o as Record<string, unknown> }) }
  const Manager = await loadAcmeManager()
  const m = new Manager({ config: config.acme!, stateDir: dir, board: new ChallengeBoard(), log: { info: log('info'), warn: log('warn'), error: log('error') }, onIssued: async () => {} })
  return { m, lines }
}

const until = async (ok: () => boolean, ms: number): Promise<boolean> => {
  const deadline = Date.now() + ms
  while (!ok() && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
  return ok()
}

t.test('the renewal time is drawn once per certificate: every read and a restart see the same time', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const pki = makePki(['a.test'])
  await writeCertificate(dir, 'a.test', pki.cert + pki.caCert, pki.key)
  const { m } = await manager(dir)
  t.teardown(() => m.stop())
  await m.start()
  const reads = new Set<string | null>()
  for (let i = 0; i < 6; i++) reads.add((await m.status())[0]!.nextRenewal)
  t.equal(reads.size, 1, `six reads, one renewal time: ${[...reads].join(', ')}`)
  m.stop()
  const state = JSON.parse(await readFile(join(dir, 'acme', 'state.json'), 'utf8')) as Record<string, { renewAt?: { at: number } }>
  t.equal(new Date(state['a.test']!.renewAt!.at).toISOString(), [...reads][0], 'persisted in the state file')
  const again = await manager(dir)
  t.teardown(() => again.m.stop())
  await again.m.start()
  t.equal((await again.m.status())[0]!.nextRenewal, [...reads][0], 'the same after a restart')
})

t.test('a failed renew arms a retry timer: the scheduler wakes at the next attempt by itself', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const pki = makePki(['a.test'])
  await writeCertificate(dir, 'a.test', pki.cert + pki.caCert, pki.key)
  const { m, lines } = await manager(dir)
  t.teardown(() => m.stop())
  await m.start()
  const failed = (): number => lines.filter(l => l.msg === 'acme: order failed; will retry').length
  // Let the start-up scheduling settle (its timer is set for the planned renewal, hours away).
  t.ok(await until(() => lines.some(l => l.msg === 'acme: renewal info unavailable'), 5000))
  await new Promise(resolve => setTimeout(resolve, 300))
  const r = await m.renew('a.test', true)
  t.equal(r.ok, false, 'the forced renew fails: no CA')
  t.equal(failed(), 1)
  t.ok(await until(() => failed() >= 2, 8000), `retried by the timer at next_attempt (${String(lines.find(l => l.msg === 'acme: order failed; will retry')?.o.next_attempt)})`)
  const s = (await m.status())[0]!
  t.ok(s.retrying, 'status says it is a retry')
  t.ok(s.failures >= 2)
  t.ok(s.orders.failed >= 2, 'failed attempts counted')
})

t.test('an unwritable store fails the attempt before any order; an issued certificate kept in the state dir is installed without ordering', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const store = join(dir, 'store')
  await mkdir(store)
  // As root, permissions do not stop writes: a file where the archive directory goes does.
  await writeFile(join(store, 'archive'), 'not a directory')
  const { m, lines } = await manager(dir, undefined, `  store_dir: ${store}`)
  t.teardown(() => m.stop())
  const r = await m.renew('a.test', true)
  t.match(r.error, /certificate store .* is not writable/, 'refused before ordering')
  t.equal(lines.filter(l => l.msg === 'acme: ordering certificate').length, 0, 'no order placed')

  // A certificate issued earlier that the store did not take (kept in the state dir).
  const pki = makePki(['a.test'])
  await mkdir(join(dir, 'acme', 'pending'), { recursive: true })
  await writeFile(join(dir, 'acme', 'pending', 'a.test.json'), JSON.stringify({ fullchain: pki.cert + pki.caCert, key: pki.key }))
  await (await import('node:fs/promises')).rm(join(store, 'archive'))
  const installed = await m.renew('a.test', true)
  t.equal(installed.ok, true, `installed from the state dir without a CA: ${installed.error ?? ''}`)
  t.equal(lines.filter(l => l.msg === 'acme: ordering certificate').length, 0, 'still no order')
  t.equal((await m.status())[0]!.issuer?.includes('portico test CA'), true)
})
