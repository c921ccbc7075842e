import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { ensureSelfSigned } from '../../src/tls/index.js'
import { makeTempDir, startPortico, testConfig } from '../helpers/portico.js'
import { httpUpstream } from '../helpers/upstreams.js'
import { launchBrowser } from '../helpers/browser.js'
import { requires } from '../helpers/required.js'

/**
 * Cookies the way tornado (JupyterLab, Streamlit) reads them: repeated Cookie lines joined with
 * ",", then split on ";". HTTP/2 cookie crumbs forwarded as separate lines break this parse.
 */
function tornadoCookies (raw: string[]): Map<string, string> {
  const lines: string[] = []
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === 'cookie') lines.push(raw[i + 1] as string)
  const jar = new Map<string, string>()
  for (const part of lines.join(',').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0) jar.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim())
  }
  return jar
}

/** A JupyterLab-like login: one Set-Cookie per response, an XSRF check, a session page. */
async function loginApp (t: Test): Promise<{ port: number }> {
  const sessions = new Set<string>()
  return await httpUpstream(t, (req, res) => {
    const jar = tornadoCookies(req.rawHeaders)
    const html = (status: number, body: string, cookie?: string): void => {
      res.writeHead(status, { 'content-type': 'text/html', ...(cookie === undefined ? {} : { 'set-cookie': cookie }) })
      res.end(`<!doctype html><title>lab</title>${body}`)
    }
    if (req.method === 'GET' && req.url === '/login') {
      const xsrf = jar.get('_xsrf') ?? randomBytes(8).toString('hex')
      // Domain=uap.test would hand the cookie to every sibling instance: the UAP must scope it.
      html(200, `<form method=post action=/login><input type=hidden name=_xsrf value=${xsrf}><input name=password><button>log in</button></form>`,
        jar.has('_xsrf') ? undefined : `_xsrf=${xsrf}; Path=/; Domain=uap.test; SameSite=Lax`)
      return
    }
    if (req.method === 'POST' && req.url === '/login') {
      let body = ''
      req.on('data', (d: Buffer) => { body += d.toString() })
      req.on('end', () => {
        const form = new URLSearchParams(body)
        if (form.get('_xsrf') !== jar.get('_xsrf')) { html(403, 'xsrf mismatch'); return }
        const sid = randomBytes(8).toString('hex')
        sessions.add(sid)
        res.writeHead(302, { location: '/home', 'set-cookie': `sid=${sid}; Path=/; HttpOnly; Domain=uap.test` })
        res.end()
      })
      return
    }
    if (req.method === 'GET' && req.url === '/home') {
      const ok = sessions.has(jar.get('sid') ?? '') && jar.has('_xsrf')
      html(ok ? 200 : 403, ok ? '<p id=who>welcome</p>' : `<p id=who>not logged in: ${[...jar.keys()].join(',')}</p>`)
      return
    }
    html(404, 'no')
  })
}

t.test('Chromium logs into a one-cookie XSRF-checking app through the UAP over TLS (h2); a sibling never gets the cookie', requires('command:chromium'), async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const lab = await loginApp(t)
  const siblingCookies: Array<string | undefined> = []
  const { port: siblingPort } = await httpUpstream(t, (req, res) => { siblingCookies.push(req.headers.cookie); res.end('<!doctype html><p>sibling</p>') }, '127.0.0.3')
  const cert = await ensureSelfSigned(join(dir, 'edge'), ['*.uap.test'])
  const p = await startPortico({
    dir,
    config: testConfig({
      listeners: [{ name: 'tls', tls: true }],
      certs: [cert],
      routes: '  - uap: { domain: uap.test, allow: [127.0.0.2/32, 127.0.0.3/32], default_scheme: http }'
    })
  })
  t.teardown(() => p.stop('SIGKILL'))
  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const context = await browser.newContext({ ignoreHTTPSErrors: true })
  const page = await context.newPage()
  const labUrl = `https://http-127-0-0-2-${lab.port}.uap.test:${p.ports.tls}`

  const login = await page.goto(`${labUrl}/login`)
  t.equal(login?.status(), 200, 'the login page (one Set-Cookie) loads')
  t.equal(await page.evaluate('performance.getEntriesByType("navigation")[0].nextHopProtocol'), 'h2', 'over HTTP/2')
  await page.fill('input[name=password]', 'secret')
  await Promise.all([page.waitForURL(`${labUrl}/home`), page.click('button')])
  t.equal(await page.textContent('#who'), 'welcome', 'XSRF check passed and the session cookie came back in one Cookie line')
  const cookies = await context.cookies()
  t.same(cookies.map(c => `${c.name}@${c.domain}`).sort(), [`_xsrf@http-127-0-0-2-${lab.port}.uap.test`, `sid@http-127-0-0-2-${lab.port}.uap.test`], 'host-only cookies')

  const other = await page.goto(`https://http-127-0-0-3-${siblingPort}.uap.test:${p.ports.tls}/`)
  t.equal(other?.status(), 200)
  t.ok(siblingCookies.length >= 1 && siblingCookies.every(c => c === undefined), `the sibling instance received no cookie: ${JSON.stringify(siblingCookies)}`)
})
