import t from 'tap'
import { repoFile, shippedNodeOptions } from '../helpers/node-flags.js'

// The young-generation cap (docs/ARCHITECTURE.md#memory) only works if every way of running
// portico passes it: the unit, the image, `npm start` and the benchmarks must not drift apart.
t.test('every launcher runs Node with the flags the systemd unit ships', async t => {
  const flags = shippedNodeOptions()
  t.match(flags, /^--max-semi-space-size=\d+$/, `the unit's NODE_OPTIONS: ${flags}`)
  t.match(repoFile('Dockerfile'), new RegExp(`^ENV .*NODE_OPTIONS=${flags}(\\s|$)`, 'm'), 'container image ENV')
  const start = (JSON.parse(repoFile('package.json')) as { scripts: { start: string } }).scripts.start
  t.ok(start.startsWith(`node ${flags} dist/cli.js`), `npm start: ${start}`)
  t.match(repoFile('bench/proxy/peers.mjs'), `SHIPPED_NODE_FLAGS = '${flags}'`, 'benchmark harness')
})
