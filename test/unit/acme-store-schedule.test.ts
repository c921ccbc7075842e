import t from 'tap'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { readCertificate, renewAt, retryAt, writeCertificate } from '../../src/acme/index.js'
import { makePki } from '../helpers/pki.js'
import { makeTempDir } from '../helpers/portico.js'

const DAY = 86_400_000

t.test('renewal time: a third of the lifetime before expiry, with small jitter', async t => {
  const nb = new Date('2026-01-01T00:00:00Z')
  t.equal(renewAt(nb, new Date(nb.getTime() + 90 * DAY), () => 0), nb.getTime() + 60 * DAY, '90-day certificate: ~30 days left')
  t.equal(renewAt(nb, new Date(nb.getTime() + 6 * DAY), () => 0), nb.getTime() + 4 * DAY, '6-day certificate: 2 days left')
  const jittered = renewAt(nb, new Date(nb.getTime() + 90 * DAY), () => 1)
  t.ok(jittered < nb.getTime() + 60 * DAY && jittered > nb.getTime() + 59 * DAY, 'jitter at most 1% of the lifetime, earlier')
})

t.test('retry backoff: exponential, capped, Retry-After honoured, never past expiry', async t => {
  const now = 1_000_000_000
  t.equal(retryAt(now, 1, 60_000, 21_600_000, undefined), now + 60_000)
  t.equal(retryAt(now, 3, 60_000, 21_600_000, undefined), now + 240_000)
  t.equal(retryAt(now, 20, 60_000, 21_600_000, undefined), now + 21_600_000, 'capped at 6 h')
  t.equal(retryAt(now, 1, 60_000, 21_600_000, undefined, 3_600_000), now + 3_600_000, 'Retry-After wins when longer')
  t.equal(retryAt(now, 20, 60_000, 21_600_000, now + 2 * 3_600_000), now + 2 * 3_600_000 - 60_000, 'still tries before the certificate lapses')
})

t.test('store: certbot layout, atomic files, key and chain verified', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const pki = makePki(['a.test'])
  const fullchain = pki.cert + pki.caCert
  const stored = await writeCertificate(dir, 'a.test', fullchain, pki.key)
  t.equal(stored.fullchainFile, join(dir, 'live', 'a.test', 'fullchain.pem'))
  const lf = (s: string): string => s.replace(/\r\n/g, '\n').trim()
  t.equal(lf(await readFile(join(dir, 'live', 'a.test', 'cert.pem'), 'utf8')), lf(pki.cert))
  t.equal(lf(await readFile(join(dir, 'live', 'a.test', 'chain.pem'), 'utf8')), lf(pki.caCert))
  t.equal((await stat(join(dir, 'live', 'a.test', 'privkey.pem'))).mode & 0o777, 0o600)
  t.equal((await readCertificate(dir, 'a.test'))?.serial, stored.serial)
  t.equal(await readCertificate(dir, 'missing'), undefined)
  const other = makePki(['b.test'])
  await t.rejects(writeCertificate(dir, 'x', fullchain, other.key), /private key does not match/, 'mismatched key refused on write')
  await t.rejects(writeCertificate(dir, 'y', pki.cert + other.caCert, pki.key), /incomplete chain/, 'broken chain refused')
  // A mismatched pair on disk (e.g. a half-copied certbot directory) is refused on load too.
  await writeCertificate(dir, 'z', other.cert, other.key)
  await (await import('node:fs/promises')).writeFile(join(dir, 'live', 'z', 'privkey.pem'), pki.key)
  await t.rejects(readCertificate(dir, 'z'), /does not match/)
})

t.test('store: certbot archive versions, live symlinks switched last; a write failing halfway leaves the previous pair live', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const fs = await import('node:fs/promises')
  const one = makePki(['a.test'])
  const first = await writeCertificate(dir, 'a.test', one.cert + one.caCert, one.key)
  for (const f of ['cert', 'chain', 'fullchain', 'privkey']) {
    t.equal(await fs.readlink(join(dir, 'live', 'a.test', `${f}.pem`)), `../../archive/a.test/${f}1.pem`, `live/${f}.pem -> archive version 1, as certbot links`)
  }
  // The next write fails at its last file: block both where the old and the new layout write it.
  const two = makePki(['a.test'])
  await fs.mkdir(join(dir, 'live', 'a.test', `.fullchain.pem.${process.pid}.tmp`))
  await fs.mkdir(join(dir, 'archive', 'a.test', `fullchain2.pem.${process.pid}.tmp`))
  await t.rejects(writeCertificate(dir, 'a.test', two.cert + two.caCert, two.key))
  const after = await readCertificate(dir, 'a.test')
  t.equal(after?.fullchain, first.fullchain, 'the previous pair is still live, complete')
  t.equal(after?.key, one.key)
})

t.test('store: a broken live pair is refused; the newest good archive version is what can still be served', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const { readServable } = await import('../../src/acme/index.js')
  const one = makePki(['a.test'])
  const two = makePki(['a.test'])
  await writeCertificate(dir, 'a.test', one.cert + one.caCert, one.key)
  await writeCertificate(dir, 'a.test', two.cert + two.caCert, two.key)
  // An operator copies another key over live/privkey.pem: cp writes through the link into version 2.
  await (await import('node:fs/promises')).writeFile(join(dir, 'live', 'a.test', 'privkey.pem'), makePki(['x']).key)
  await t.rejects(readCertificate(dir, 'a.test'), /does not match/)
  const s = await readServable(dir, 'a.test')
  t.equal(s.stored?.version, 1, 'version 1 still verifies')
  t.match(s.problem, /does not match/)
})
