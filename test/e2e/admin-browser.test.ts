import t from 'tap'
import http from 'node:http'
import { startPortico, testConfig } from '../helpers/portico.js'
import { serve } from '../helpers/upstreams.js'
import { launchBrowser } from '../helpers/browser.js'
import { requires } from '../helpers/required.js'

/**
 * CSRF and DNS rebinding against the loopback admin API, from a real page in Chromium: a site
 * the operator's browser opens on the same host must not reload the config or read it.
 */
t.test('a cross-origin page cannot POST to the admin API or read it through a rebound name', requires('command:chromium'), async t => {
  const p = await startPortico({ config: testConfig({ admin: true }) })
  t.teardown(() => p.stop('SIGKILL'))
  const adminPort = Number(new URL(p.adminUrl).port)
  const reloads = (): number => p.logs.filter(l => l.msg === 'config reloaded' && l.reason === 'admin api').length
  // The attacker's page, on another origin (the browser maps *.test to 127.0.0.1).
  const evil = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' })
    res.end(`<!doctype html><body>
<form id="f" method="POST" action="http://127.0.0.1:${adminPort}/reload" target="sink"></form><iframe name="sink"></iframe>
<script>
window.attack = async () => {
  const out = {}
  try { await fetch('http://127.0.0.1:${adminPort}/reload', { method: 'POST', mode: 'no-cors' }); out.noCors = 'sent' } catch (e) { out.noCors = String(e) }
  try { await fetch('http://127.0.0.1:${adminPort}/reload', { method: 'POST', headers: { 'x-portico-admin': '1' } }); out.withHeader = 'sent' } catch (e) { out.withHeader = 'blocked' }
  document.getElementById('f').submit()
  await new Promise(r => setTimeout(r, 500))
  return out
}
</script></body>`)
  })
  const { port: evilPort } = await serve(t, evil, '127.0.0.1')

  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  await page.goto(`http://evil.test:${evilPort}/`)
  const out = await page.evaluate('window.attack()') as Record<string, string>
  t.equal(out.withHeader, 'blocked', 'a custom header needs a preflight, which the admin API never grants')
  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal(reloads(), 0, 'neither the no-cors fetch nor the form POST reloaded the config')

  // DNS rebinding: the attacker's name now resolves to 127.0.0.1, so the page is same-origin
  // with the admin port; only the Host header gives it away.
  const rebound = await page.goto(`http://rebind.test:${adminPort}/config`)
  t.equal(rebound?.status(), 421, 'GET /config under a foreign name: 421')
  const post = await page.evaluate("fetch('/reload', { method: 'POST', headers: { 'x-portico-admin': '1' } }).then(r => r.status)")
  t.equal(post, 421, 'a same-origin POST with the header, under the rebound name: 421')
  t.equal(reloads(), 0)

  const own = await fetch(`${p.adminUrl}/reload`, { method: 'POST', headers: { 'x-portico-admin': '1' } })
  t.equal(own.status, 200, 'the operator (curl, portico renew) with the header: 200')
  await p.waitForLog(l => l.msg === 'config reloaded' && l.reason === 'admin api')
  t.equal(reloads(), 1, 'and that was the only reload')
})
