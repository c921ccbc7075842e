import t from 'tap'
import { parseConfigText } from '../../src/config/index.js'
import { buildSnapshot } from '../../src/daemon/build-snapshot.js'
import { Serving } from '../../src/daemon/serving.js'
import { Metrics } from '../../src/admin/metrics.js'
import { createLogger } from '../../src/log/logger.js'
import { EMPTY_NAME_TABLE } from '../../src/dns/index.js'
import { send } from '../helpers/http.js'
import { makeTempDir } from '../helpers/portico.js'

// At start-up the listeners are bound before the first snapshot is swapped in (the swap waits for
// the other parts: Docker, admin). A connection accepted in that window must be served from the
// snapshot being committed — it used to find no snapshot at all, and the engine's connection
// setup threw out of the server's 'connection' handler (an uncaught exception: the process died).

t.test('a request accepted between the first bind and the first swap is served from the snapshot being committed', async t => {
  const { dir, cleanup } = await makeTempDir('portico-first-')
  t.teardown(cleanup)
  const metrics = new Metrics({ connections: () => 0, certificates: async () => [], docker: () => null, stale: () => false })
  const serving = new Serving(createLogger('silent'), metrics, { reusePort: false })
  const text = `state_dir: ${dir}\nadmin: null\nlisteners: [{ name: http, address: "127.0.0.1:0" }]\nroutes:\n  - { host: "*", respond: { body: first } }\n`
  const built = await buildSnapshot(parseConfigText(text, `${dir}/portico.yaml`), serving.dispatchers, EMPTY_NAME_TABLE)
  const prepared = await serving.prepare(built)
  t.teardown(async () => { await serving.stop(0) })
  t.equal(serving.store.loaded, false, 'nothing swapped in yet')
  const port = serving.listeners.addresses()[0]?.port ?? 0
  t.ok(port > 0, 'the listener is bound')
  const r = await send(port, 'app.example.org')
  t.equal(r.status, 200, 'answered, not dropped')
  t.equal(r.body.trim(), 'first', 'from the snapshot being committed')
  await prepared.commit()
  t.equal(serving.store.loaded, true, 'swapped in')
  t.equal((await send(port, 'app.example.org')).body.trim(), 'first', 'and after the swap')
})
