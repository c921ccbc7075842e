import t from 'tap'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { startPortico } from '../helpers/portico.js'
import { send } from '../helpers/http.js'

// The README's demo: config/portico.yaml as shipped (fixed ports 8080/8443/9180), state in a
// temp dir. The UAP route reaches the admin listener over HTTPS with the self-signed certificate.
t.test('npm start demo config serves the UAP route over HTTPS', async t => {
  const shipped = await readFile(resolve(import.meta.dirname, '../../config/portico.yaml'), 'utf8')
  const p = await startPortico({ config: shipped.replace(/^state_dir: .*$/m, 'state_dir: ${STATE}') })
  t.teardown(() => p.stop('SIGKILL'))
  t.same(p.ports, { http: 8080, https: 8443 })
  const r = await send(8443, 'http-127-0-0-1-9180.uap.localhost', { tls: true, path: '/healthz' })
  t.equal(r.status, 200)
  t.same(JSON.parse(r.body), { status: 'ok' })
  const home = await send(8080, 'localhost')
  t.match(home.body, /portico is running/)
  const denied = await send(8443, 'http-10-0-0-1-80.uap.localhost', { tls: true })
  t.equal(denied.status, 403)
})
