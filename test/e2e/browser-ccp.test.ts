import t from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { httpConfig, makeTempDir, startPortico } from '../helpers/portico.js'
import { httpUpstream } from '../helpers/upstreams.js'
import { makePki } from '../helpers/pki.js'
import { startFakeOpenStack } from '../helpers/fake-openstack.js'
import { launchBrowser } from '../helpers/browser.js'
import { requires } from '../helpers/required.js'

// Exosphere's browser flow, as a person's browser runs it: a page on one origin calls an
// OpenStack API through portico's CCP with X-Auth-Token and reads X-Subject-Token; a page on
// another origin is stopped by the browser's CORS check.
t.test('Chromium: CCP works for the allowed origin, CORS blocks another', requires('command:chromium'), async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const pki = makePki(['localhost'])
  await writeFile(join(dir, 'ca.pem'), pki.caCert)
  const api = await startFakeOpenStack(pki)
  t.teardown(api.close)
  const { port: pagePort } = await httpUpstream(t, (_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<!doctype html><title>exosphere</title><p>app</p>') }, '127.0.0.1')
  const p = await startPortico({
    dir,
    config: httpConfig(`
  - name: ccp
    host: ccp.test
    cors: { preset: openstack, origins: ["http://exo.test:${pagePort}"], credentials: true }
    cors_proxy: { hosts: [localhost], networks: [127.0.0.0/8, "::1/128"], ports: ["${api.port}"], tls: { ca_file: ca.pem } }`)
  })
  t.teardown(() => p.stop('SIGKILL'))
  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const call = `async ([ccp, apiPort]) => {
    try {
      const r = await fetch(ccp + '/proxy/v3/auth/tokens?nocatalog', {
        method: 'POST',
        credentials: 'include',
        headers: { 'Content-Type': 'application/json', 'X-Auth-Token': 'from-browser', 'exo-proxy-orig-host': 'localhost', 'exo-proxy-orig-port': String(apiPort) },
        body: JSON.stringify({ auth: { identity: {} } })
      })
      return { ok: true, status: r.status, token: r.headers.get('X-Subject-Token'), body: await r.json() }
    } catch (err) {
      return { ok: false, error: String(err) }
    }
  }`
  const ccp = `http://ccp.test:${p.ports.http}`

  const good = await browser.newPage()
  await good.goto(`http://exo.test:${pagePort}/`)
  const result = await good.evaluate(`(${call})(${JSON.stringify([ccp, api.port])})`) as { ok: boolean, status: number, token: string, body: { auth: string, url: string } }
  t.same({ ok: result.ok, status: result.status, token: result.token }, { ok: true, status: 201, token: 'gAAAAA-token' }, 'the page reads X-Subject-Token')
  t.equal(result.body.auth, 'from-browser', 'X-Auth-Token reached the API')
  t.equal(result.body.url, '/v3/auth/tokens?nocatalog')
  const preflights = api.seen.filter(s => s.method === 'OPTIONS').length
  t.equal(preflights, 0, 'the browser preflight was answered by portico')

  const evil = await browser.newPage()
  const consoleErrors: string[] = []
  evil.on('console', m => { if (m.type() === 'error') consoleErrors.push(m.text()) })
  await evil.goto(`http://evil.test:${pagePort}/`)
  const seenBefore = api.seen.length
  const blocked = await evil.evaluate(`(${call})(${JSON.stringify([ccp, api.port])})`) as { ok: boolean, error: string }
  t.equal(blocked.ok, false, 'fetch from a disallowed origin fails')
  t.match(blocked.error, /TypeError/)
  t.ok(consoleErrors.some(e => /CORS policy/.test(e)), `the browser reports a CORS failure: ${consoleErrors.join(' | ')}`)
  t.equal(api.seen.length, seenBefore, 'the failed preflight sent nothing upstream')
})
