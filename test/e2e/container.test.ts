import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { realpath } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { requires } from '../helpers/required.js'
import { until } from '../helpers/wait.js'
import { containerIp, importBusybox, importNodeBase, runWebContainer, startDockerd } from '../helpers/dockerd.js'
import http from 'node:http'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')

/**
 * Bounds of the slow steps on a loaded 2-core machine (a build took over 60 s there): staging
 * the context, the build, and the whole file (tap's default 300 s would cut the sum short).
 */
const STAGE_LIMIT_MS = 180_000
const BUILD_LIMIT_MS = 240_000
t.setTimeout(600_000)

// The sidecar image, built without any registry on the test's own dockerd: the base is a rootfs
// holding this project's Node binary; the context comes from scripts/stage-image.sh.
t.test('container image: builds, becomes healthy, proxies, stops gracefully', requires('root', 'command:dockerd'), async t => {
  const d = await startDockerd()
  t.teardown(() => d.stop())
  const context = await mkdtemp('/tmp/pdk-image-')
  t.teardown(() => rm(context, { recursive: true, force: true }))
  // Independent: the base images are imported while the context is staged.
  const preparing = Date.now()
  const [base, busybox] = await Promise.all([
    importNodeBase(d, await realpath(process.execPath)),
    importBusybox(d),
    run('bash', [join(ROOT, 'scripts/stage-image.sh'), context], { timeout: STAGE_LIMIT_MS })
  ])
  const staged = Date.now()
  await d.dockerWithin(BUILD_LIMIT_MS, 'build', '--network', 'none', '--build-arg', `BASE=${base}`, '-t', 'portico:test', context)
  t.comment(`base images and context ready in ${staged - preparing} ms, image built in ${Date.now() - staged} ms`)
  const subnet = `172.30.${1 + Math.floor(Math.random() * 254)}.0/24`
  await d.docker('network', 'create', '--subnet', subnet, 'appliances')
  await runWebContainer(d, busybox, 'bigco-nginx', 'appliance-page', ['--network', 'appliances'])
  const appIp = await containerIp(d, 'bigco-nginx')
  const conf = await mkdtemp('/tmp/pdk-conf-')
  t.teardown(() => rm(conf, { recursive: true, force: true }))
  await writeFile(join(conf, 'portico.yaml'), `
admin: { address: "127.0.0.1:9180" }
shutdown_timeout: 5s
listeners: [{ name: http, address: "0.0.0.0:8080" }]
routes: [{ host: bigco.test, proxy: { upstreams: ["http://${appIp}:80"] } }]
`)
  // The image runs as uid 10001: the mounted config must be readable by it.
  await chmod(conf, 0o755)
  await d.docker('run', '-d', '--init', '--name', 'portico', '--network', 'appliances', '-v', `${conf}:/etc/portico:ro`, 'portico:test')
  const health = await until('healthy', async () => {
    const h = await d.docker('inspect', '-f', '{{.State.Health.Status}}', 'portico')
    return h === 'healthy' ? h : undefined
  }, 40_000, 250).catch(async (err: Error) => {
    const logs = await run('docker', ['logs', 'portico'], { env: { ...process.env, DOCKER_HOST: d.endpoint } }).then(r => r.stdout + r.stderr, () => '')
    const state = await d.docker('inspect', '-f', '{{json .State}}', 'portico').catch(() => '')
    throw new Error(`${err.message}; state ${state}; logs:\n${logs}`)
  })
  t.equal(health, 'healthy', 'HEALTHCHECK reaches /healthz')
  t.equal(await d.docker('inspect', '-f', '{{.Config.User}}', 'portico'), '10001:10001', 'runs as a non-root user')
  const ip = await containerIp(d, 'portico')
  const r = await until('proxied page', async () => await new Promise<string | undefined>(resolve => {
    const req = http.get({ host: ip, port: 8080, path: '/', headers: { host: 'bigco.test' }, timeout: 3000 }, res => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('end', () => resolve(res.statusCode === 200 ? body : undefined))
    })
    req.on('error', () => resolve(undefined))
    req.on('timeout', () => req.destroy())
  }), 40_000, 250)
  t.equal(r.trim(), 'appliance-page', 'the sidecar proxies to the appliance container')
  const started = Date.now()
  await d.docker('stop', '-t', '20', 'portico')
  const stopMs = Date.now() - started
  t.equal(await d.docker('inspect', '-f', '{{.State.ExitCode}}', 'portico'), '0', 'graceful stop: exit code 0')
  t.ok(stopMs < 15_000, `stopped by SIGTERM in ${stopMs} ms, not killed at the timeout`)
})
