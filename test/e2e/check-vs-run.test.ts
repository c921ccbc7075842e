import t from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { freePort, makeTempDir, runCli } from '../helpers/portico.js'
import { makePki } from '../helpers/pki.js'

/**
 * `portico check` passing must mean `portico run` accepts the file: a corpus of broken configs,
 * each fed to both. Both must refuse, and `run` must print the same FILE:LINE:COL lines `check`
 * prints (run refusing for another reason, or only at request time, would fail here).
 */
const base = (extra: string, listeners = '[{ name: http, address: "127.0.0.1:0" }]'): string => `state_dir: state
admin: { address: "127.0.0.1:0" }
log: { level: info, access: false }
listeners: ${listeners}
${extra}
`
const tlsListeners = '[{ name: http, address: "127.0.0.1:0" }, { name: https, address: "127.0.0.1:0", tls: true }]'

t.test('check rejects everything run rejects, with the same located errors', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const a = makePki(['a.test'])
  const b = makePki(['b.test'])
  await writeFile(join(dir, 'a.pem'), a.cert)
  await writeFile(join(dir, 'a.key'), a.key)
  await writeFile(join(dir, 'b.key'), b.key)
  await writeFile(join(dir, 'junk.pem'), 'not a certificate\n')
  await writeFile(join(dir, 'empty.token'), '\n')
  const port = await freePort()
  const corpus: Array<{ name: string, yaml: string, error: RegExp }> = [
    { name: 'missing certificate file', yaml: base('tls: { certificates: [{ cert_file: nope.pem, key_file: nope.key }] }', tlsListeners), error: /:5:\d+: tls\.certificates\[0\]\.cert_file: cannot read .*nope\.pem: ENOENT/ },
    { name: 'certificate and key do not match', yaml: base('tls: { certificates: [{ cert_file: a.pem, key_file: b.key }] }', tlsListeners), error: /tls\.certificates\[0\]\.key_file: .*b\.key does not match the certificate .*a\.pem/ },
    { name: 'certificate file is not PEM', yaml: base('tls: { certificates: [{ cert_file: junk.pem, key_file: a.key }] }', tlsListeners), error: /tls\.certificates\[0\]\.cert_file: .*junk\.pem is not a PEM certificate/ },
    { name: 'missing CA file', yaml: base('routes: [{ host: a.test, proxy: { upstreams: ["https://127.0.0.2:1"], tls: { ca_file: ca.pem } } }]'), error: /routes\[0\]\.proxy\.tls\.ca_file: cannot read .*ca\.pem: ENOENT/ },
    { name: 'duplicate route names', yaml: base('routes:\n  - { name: app, host: a.test, respond: { body: a } }\n  - { name: app, host: b.test, respond: { body: b } }'), error: /:7:\d+: routes\[1\]\.name: duplicate route name "app"/ },
    { name: 'admin beyond loopback without token', yaml: base('').replace('127.0.0.1:0" }\nlog', '0.0.0.0:0" }\nlog'), error: /:2:\d+: admin\.address: an admin listener beyond loopback needs admin\.token_file/ },
    { name: 'missing admin token file', yaml: base('').replace('address: "127.0.0.1:0" }\nlog', 'address: "127.0.0.1:0", token_file: none.token }\nlog'), error: /admin\.token_file: cannot read .*none\.token: ENOENT/ },
    { name: 'empty admin token file (would let anyone in)', yaml: base('').replace('address: "127.0.0.1:0" }\nlog', 'address: "127.0.0.1:0", token_file: empty.token }\nlog'), error: /admin\.token_file: .*empty\.token is empty/ },
    { name: 'placeholder typo in a redirect', yaml: base('routes: [{ host: a.test, redirect: { to: "https://{hots}{uri}" } }]'), error: /routes\[0\]\.redirect\.to: unknown placeholder \{hots\}.*available: \{host\}, \{uri\}, \{path\}/ },
    { name: 'templated upstream with a variable the host does not capture', yaml: base('routes: [{ host: "*.a.test", proxy: { upstreams: ["http://{ip}:19750"] } }]'), error: /routes\[0\]\.proxy\.upstreams\[0\]: unknown placeholder \{ip\}/ },
    { name: 'two listeners on one address', yaml: base('', `[{ name: one, address: "127.0.0.1:${port}" }, { name: two, address: "127.0.0.1:${port}" }]`), error: new RegExp(`listeners\\[1\\]\\.address: 127\\.0\\.0\\.1:${port} is already used by listener "one"`) },
    { name: 'redirect status 305', yaml: base('routes: [{ host: a.test, redirect: { to: "https://x/", status: 305 } }]'), error: /redirect status 305 is not one of 301, 302, 303, 307, 308/ },
    { name: 'a tab in YAML', yaml: base('routes:\n\t- { host: a.test, respond: { body: a } }'), error: /:6:1: / },
    { name: 'unknown key', yaml: base('rootes: []'), error: /:5:1: rootes: unknown key "rootes" \(did you mean "routes"\?\)/ }
  ]
  // One case (two processes) at a time, with generous timeouts: a loaded 2-core CI machine.
  const results: Array<{ c: typeof corpus[number], file: string, check: Awaited<ReturnType<typeof runCli>>, run: Awaited<ReturnType<typeof runCli>> }> = []
  for (const [i, c] of corpus.entries()) {
    const file = join(dir, `broken-${i}.yaml`)
    await writeFile(file, c.yaml)
    const [check, run] = await Promise.all([runCli(['check', '--config', file], 90_000), runCli(['run', '--config', file], 90_000)])
    results.push({ c, file, check, run })
  }
  for (const { c, file, check, run } of results) {
    t.test(c.name, async t => {
      t.equal(run.code, 1, 'run refuses it')
      t.equal(check.code, 1, 'check refuses it')
      t.equal(check.stdout, '')
      const lines = check.stderr.trim().split('\n')
      t.ok(lines.every(l => l.startsWith(`${file}:`)), `every line located: ${check.stderr}`)
      t.match(check.stderr, c.error)
      for (const l of lines) t.ok(run.stderr.includes(l), `run says the same: ${l}`)
    })
  }
  const tab = results.find(r => r.c.name === 'a tab in YAML')!
  t.equal(tab.check.stderr.trim().split('\n').length, 1, 'a tab in YAML: one message, not a cascade')
})
