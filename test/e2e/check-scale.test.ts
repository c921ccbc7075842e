import t from 'tap'
import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CLI, makeTempDir } from '../helpers/portico.js'

/**
 * A 100k-route config took 16 s and 1 GB in `check`: the YAML library's Document (a CST plus a
 * node with source ranges per value) was built for every file, though it is only needed to
 * locate problems. Not a timing test: 20k routes must pass `check` with a 96 MiB heap (the
 * Document alone needed ~180 MiB; the fixed loader passes with 64).
 */
t.test('check on 20k routes fits a 96 MiB heap', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const file = join(dir, 'routes.yaml')
  const routes = Array.from({ length: 20_000 }, (_, i) => `  - { name: r${i}, host: h${i}.example.org, proxy: { upstreams: ["http://127.0.0.2:${1000 + (i % 5000)}"] } }`)
  await writeFile(file, `state_dir: state\nadmin: null\nlisteners: [{ name: http, address: "127.0.0.1:0" }]\nroutes:\n${routes.join('\n')}\n`)
  const child = spawn(process.execPath, ['--max-old-space-size=96', CLI, 'check', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
  const code = await new Promise<number | null>(resolve => child.once('exit', c => resolve(c)))
  clearTimeout(timer)
  t.equal(code, 0, err.slice(-300))
  t.equal(out, 'ok\n')
})

t.test('an error in a big file is still located', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const file = join(dir, 'routes.yaml')
  const routes = Array.from({ length: 2000 }, (_, i) => `  - { name: r${i}, host: h${i}.example.org, respond: { body: x } }`)
  routes[1500] = '  - { name: r1, host: dup.example.org, respond: { body: x } }'
  await writeFile(file, `state_dir: state\nadmin: null\nlisteners: [{ name: http, address: "127.0.0.1:0" }]\nroutes:\n${routes.join('\n')}\n`)
  const child = spawn(process.execPath, [CLI, 'check', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  t.equal(await new Promise<number | null>(resolve => child.once('exit', c => resolve(c))), 1)
  t.equal(err, `${file}:1505:13: routes[1500].name: duplicate route name "r1" (also routes[1]); names label metrics and logs\n`)
})
