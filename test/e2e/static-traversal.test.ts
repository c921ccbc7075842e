import t from 'tap'
import { mkdir, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { httpConfig, makeTempDir, startPortico } from '../helpers/portico.js'
import { rawExchange } from '../helpers/raw-socket.js'

/**
 * Issue 22.1: no path, however encoded, reaches a file outside `root`. Every case gets a 404
 * (a few are refused by the HTTP parser first: 400; a raw backslash, legal for llhttp, may be
 * refused by a stricter parser: 'either') and no answer ever holds a byte of the
 * secret files next to the root, reached by `..`, encodings or symlinks.
 */
const CORPUS: Array<[string, 400 | 404 | 'either']> = [
  ['/../secret.txt', 404], ['/../../secret.txt', 404], ['/sub/../../secret.txt', 404], ['/./../secret.txt', 404],
  ['//../secret.txt', 404], ['/..//secret.txt', 404], ['/sub/../sub/../../secret.txt', 404],
  ['/%2e%2e/secret.txt', 404], ['/%2E%2E/secret.txt', 404], ['/.%2e/secret.txt', 404], ['/%2e./secret.txt', 404],
  ['/%2e%2e%2fsecret.txt', 404], ['/..%2fsecret.txt', 404], ['/..%2Fsecret.txt', 404], ['/%2e%2e%2f%2e%2e%2fsecret.txt', 404],
  ['/sub/..%2f..%2fsecret.txt', 404], ['/sub/%2e%2e/%2e%2e/secret.txt', 404],
  ['/..%5csecret.txt', 404], ['/..%5Csecret.txt', 404], ['/%2e%2e%5c%2e%2e%5csecret.txt', 404], ['/sub\\..\\..\\secret.txt', 'either'],
  ['/..\\secret.txt', 'either'], ['/%252e%252e/secret.txt', 404], ['/%252e%252e%252fsecret.txt', 404], ['/..%252fsecret.txt', 404],
  ['/..%255c..%255csecret.txt', 404], ['/%25252e%25252e/secret.txt', 404],
  ['/%c0%ae%c0%ae/secret.txt', 404], ['/..%c0%afsecret.txt', 404], ['/%c0%2e%c0%2e/secret.txt', 404],
  ['/%e0%80%ae%e0%80%ae/secret.txt', 404], ['/%u002e%u002e/secret.txt', 404], ['/..%u2216secret.txt', 404],
  ['/..%00/secret.txt', 404], ['/secret.txt%00.html', 404], ['/index.html%00', 404], ['/.%00./secret.txt', 404],
  ['/%00', 404], ['/sub%00/../../secret.txt', 404], ['/..%0asecret.txt', 404], ['/..%0d%0asecret.txt', 404],
  ['/leak', 404], ['/leak-abs', 404], ['/linkdir', 404], ['/linkdir/', 404], ['/linkdir/secret.txt', 404],
  ['/sub/leak-up', 404], ['/evil', 404], ['/evil-dir/secret.txt', 404],
  ['/...', 404], ['/..;/secret.txt', 404], ['/%2fsecret.txt', 404], ['/%5csecret.txt', 404],
  ['/%2f%2e%2e%2fsecret.txt', 404], ['/sub/%2e%2e', 404], ['/sub/..', 404], ['/..', 404], ['/.', 404], ['/%2e', 404],
  ['/../site-evil/secret.txt', 404], ['/%2e%2e/site-evil/secret.txt', 404],
  // Bytes the HTTP parser refuses before any route sees them.
  ['/..\u0000/secret.txt', 400], ['/.. /secret.txt', 400]
]

t.test('traversal corpus: 404 and not one byte of a file outside root', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const secret = `TOPSECRET-${randomBytes(8).toString('hex')}`
  const evil = `EVILSECRET-${randomBytes(8).toString('hex')}`
  const site = join(dir, 'site')
  await mkdir(join(site, 'sub'), { recursive: true })
  await mkdir(join(dir, 'site-evil'))
  await writeFile(join(site, 'index.html'), '<h1>index</h1>')
  await writeFile(join(site, 'sub', 'page.txt'), 'page')
  await writeFile(join(dir, 'secret.txt'), secret)
  await writeFile(join(dir, 'site-evil', 'secret.txt'), evil)
  await symlink('../secret.txt', join(site, 'leak'))
  await symlink(join(dir, 'secret.txt'), join(site, 'leak-abs'))
  await symlink('..', join(site, 'linkdir'))
  await symlink('../../secret.txt', join(site, 'sub', 'leak-up'))
  // A sibling whose name starts with the root's: a prefix check without the separator would let it through.
  await symlink('../site-evil/secret.txt', join(site, 'evil'))
  await symlink('../site-evil', join(site, 'evil-dir'))
  await symlink('sub/page.txt', join(site, 'inside-link'))
  const p = await startPortico({
    dir,
    config: httpConfig(`
  - host: files.test
    static: { root: ${site} }
  - host: spa.test
    static: { root: ${site}, spa_fallback: true, browse: true }`)
  })
  t.teardown(() => p.stop('SIGKILL'))
  const get = async (host: string, path: string): Promise<{ status: number, text: string }> => {
    const { text } = await rawExchange(p.ports.http!, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, 5000)
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }
  }
  const ok = await get('files.test', '/inside-link')
  t.same([ok.status, ok.text.endsWith('page')], [200, true], 'a symlink that stays inside root is served')
  t.ok(CORPUS.length >= 50, `${CORPUS.length} cases`)
  for (const [path, expected] of CORPUS) {
    const r = await get('files.test', path)
    const refused: number[] = expected === 'either' ? [400, 404] : [expected]
    t.ok(refused.includes(r.status), `files.test ${JSON.stringify(path)}: ${r.status}`)
    t.notOk(r.text.includes(secret) || r.text.includes(evil), `no secret byte: ${JSON.stringify(path)}`)
    // With SPA fallback a missing (but safe) name may get the index; a refused one never does.
    const s = await get('spa.test', path)
    t.ok(refused.includes(s.status) || (s.status === 200 && s.text.endsWith('<h1>index</h1>')), `spa.test ${JSON.stringify(path)}: ${s.status}`)
    t.notOk(s.text.includes(secret) || s.text.includes(evil) || s.text.includes('secret.txt'), `no secret byte or listing of the parent: ${JSON.stringify(path)}`)
  }
})
