import t from 'tap'
import { once } from 'node:events'
import { WebSocket } from 'ws'
import { freePort, startPortico, testConfig } from '../helpers/portico.js'
import { wsUpstream } from '../helpers/upstreams.js'
import { send } from '../helpers/http.js'
import { until } from '../helpers/wait.js'

/**
 * Websocket upgrades follow the retry rules of requests on both HTTP/1.1 engines: a member that
 * refuses the connection is skipped for the next candidate within `retries` (it never saw the
 * request) and marked down for the pool; `retries: 0` answers the refusal.
 */
const LISTENERS = ['node', 'portico'] as const

/** Opens a websocket through portico; resolves with the echo of one message, or the refusal's status. */
async function open (port: number, host: string): Promise<{ echo?: string, status?: number, upstreamHost?: string }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`, { headers: { host } })
  const outcome = await Promise.race([
    once(ws, 'open').then(() => 'open' as const),
    once(ws, 'unexpected-response').then(([, res]) => (res as { statusCode: number }).statusCode)
  ])
  if (outcome !== 'open') { ws.terminate(); return { status: outcome } }
  ws.send('ping')
  const [data] = await once(ws, 'message') as [Buffer]
  ws.close()
  const [echo, upstreamHost] = data.toString().split(' ')
  return { echo, upstreamHost }
}

t.test('websocket upgrades fail over from a refused member, within retries, on both engines', async t => {
  const live = await wsUpstream(t, (ws, req) => { ws.on('message', m => ws.send(`${m.toString()} ${req.headers.host ?? ''}`)) }, '127.0.0.6')
  const dead = await freePort('127.0.0.5') // nothing listens: connects are refused
  const dead2 = await freePort('127.0.0.7')
  const pool = `["http://127.0.0.5:${dead}", "http://127.0.0.6:${live.port}"]`
  const routes = LISTENERS.map(l => `  - { name: one-${l}, host: one-${l}.test, listeners: [${l}], proxy: { upstreams: ${pool}, preserve_host: false } }
  - { name: none-${l}, host: none-${l}.test, listeners: [${l}], proxy: { upstreams: ${pool}, retries: 0 } }
  - { name: all-${l}, host: all-${l}.test, listeners: [${l}], proxy: { upstreams: ["http://127.0.0.5:${dead}", "http://127.0.0.7:${dead2}"] } }`).join('\n')
  const p = await startPortico({ config: testConfig({ routes, listeners: LISTENERS.map(name => ({ name, engine: name })) }) })
  t.teardown(() => p.stop('SIGKILL'))
  for (const l of LISTENERS) {
    const port = p.ports[l] as number
    t.same(await open(port, `one-${l}.test`), { echo: 'ping', upstreamHost: `127.0.0.6:${live.port}` },
      `${l}: the refused first member is skipped; the Host field names the member that answered`)
    t.same(await open(port, `none-${l}.test`), { status: 502 }, `${l}: retries: 0 — the refusal is the answer`)
    const after = []
    for (let i = 0; i < 3; i++) after.push(await open(port, `none-${l}.test`))
    t.same(after, Array(3).fill({ echo: 'ping', upstreamHost: `none-${l}.test` }), `${l}: the refused member was marked down (not tried in turn)`)
    t.same(await open(port, `all-${l}.test`), { status: 502 }, `${l}: every member refused: 502`)
  }
  t.equal(p.child.exitCode, null, 'portico still running')
})

t.test('least_conn counts an open websocket tunnel in flight on its member until it closes, on both engines', async t => {
  const member = async (name: string, host: string): Promise<number> => (await wsUpstream(t,
    ws => { ws.on('message', m => ws.send(`${m.toString()} ${name}`)) }, host, (_req, res) => res.end(name))).port
  const a = await member('A', '127.0.0.6')
  const b = await member('B', '127.0.0.8')
  const routes = LISTENERS.map(l => `  - { name: lc-${l}, host: lc-${l}.test, listeners: [${l}], proxy: { upstreams: ["http://127.0.0.6:${a}", "http://127.0.0.8:${b}"], load_balancing: least_conn } }`).join('\n')
  const p = await startPortico({ config: testConfig({ routes, listeners: LISTENERS.map(name => ({ name, engine: name })) }) })
  t.teardown(() => p.stop('SIGKILL'))
  for (const l of LISTENERS) {
    const port = p.ports[l] as number
    const host = `lc-${l}.test`
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`, { headers: { host } })
    await once(ws, 'open')
    ws.send('which')
    const held = ((await once(ws, 'message') as [Buffer])[0]).toString().split(' ')[1]
    const gets = async (): Promise<string[]> => { const out = []; for (let i = 0; i < 4; i++) out.push((await send(port, host)).body); return out }
    const other = held === 'A' ? 'B' : 'A'
    t.same(await gets(), Array(4).fill(other), `${l}: while a tunnel is open on ${String(held)}, requests go to ${other}`)
    ws.close()
    await once(ws, 'close')
    const after = await until('the tunnel no longer counted', async () => { const g = await gets(); return g.includes('A') && g.includes('B') ? g : undefined })
    t.ok(after.length === 4, `${l}: once it closed both members take requests again (${after.join(' ')})`)
  }
})
