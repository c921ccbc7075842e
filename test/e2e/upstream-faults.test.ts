import t, { type Test } from 'tap'
import net from 'node:net'
import http from 'node:http'
import { once } from 'node:events'
import { httpConfig, startPortico, type Portico } from '../helpers/portico.js'
import { serve } from '../helpers/upstreams.js'
import { until } from '../helpers/wait.js'
import { figure } from '../helpers/figures.js'

/**
 * Upstreams that misbehave at the TCP level (raw sockets, so the faults are exact): portico
 * answers 502/504 in bounded time when it still can, aborts the client response when headers
 * were already sent, and leaks neither client connections nor handles.
 */
type Fault = (s: net.Socket) => void
const faults: Record<string, Fault> = {
  // Headers promise 1000 bytes, 100 arrive, then a reset.
  'reset-mid-body': s => s.once('data', () => { s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(100)); setTimeout(() => s.resetAndDestroy(), 50) }),
  // Not HTTP at all.
  'garbage': s => s.once('data', () => { s.end('SSH-2.0-OpenSSH_9.2\r\n\r\n') }),
  // A status line without a valid code.
  'bad-status': s => s.once('data', () => { s.end('HTTP/1.1 abc Nope\r\nContent-Length: 0\r\n\r\n') }),
  // Contradictory framing from the upstream (response smuggling).
  'cl-and-te': s => s.once('data', () => { s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n') }),
  // Closes right after reading the request.
  'close-before-response': s => s.once('data', () => { s.end() }),
  // Sends headers, then nothing (body idle timeout).
  'hang-mid-body': s => s.once('data', () => { s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nxx') }),
  // Headers, then a close or silence before any body byte: portico holds a head until its first body bytes, so
  // nothing was sent and the client can still get a 502 (504 after the body idle timeout).
  'close-after-head': s => s.once('data', () => { s.end('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n') }),
  'hang-after-head': s => s.once('data', () => { s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n') }),
  // Accepts and never answers (headers timeout).
  'hang': () => {}
}

async function faultyUpstream (t: Test): Promise<{ port: number }> {
  const sockets = new Set<net.Socket>()
  t.teardown(() => { for (const s of sockets) s.destroy() })
  const server = net.createServer(s => {
    sockets.add(s)
    s.on('error', () => {})
    s.once('close', () => sockets.delete(s))
    s.once('data', chunk => {
      const path = /^[A-Z]+ \/([a-z-]+)/.exec(chunk.toString('latin1'))?.[1] ?? ''
      s.unshift(chunk)
      faults[path]?.(s)
    })
  })
  return { port: (await serve(t, server, '127.0.0.1')).port }
}

interface Outcome { status: number | undefined, aborted: boolean, ms: number }

async function get (port: number, path: string): Promise<Outcome> {
  const started = Date.now()
  return await new Promise(resolve => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host: 'a.test' }, agent: false }, res => {
      let aborted = false
      res.on('aborted', () => { aborted = true })
      res.on('error', () => { aborted = true })
      res.resume()
      res.on('close', () => resolve({ status: res.statusCode, aborted: aborted || !res.complete, ms: Date.now() - started }))
    })
    req.on('error', () => resolve({ status: undefined, aborted: true, ms: Date.now() - started }))
    req.setTimeout(10_000, () => req.destroy())
  })
}

const metric = async (p: Portico, name: string): Promise<number> => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(await (await fetch(`${p.adminUrl}/metrics`)).text())?.[1])

t.test('misbehaving upstreams: bounded 502/504 or an aborted response, nothing leaked', async t => {
  const up = await faultyUpstream(t)
  const p = await startPortico({
    config: httpConfig(`  - name: faulty
    proxy: { upstreams: ["http://127.0.0.1:${up.port}"], retries: 0, timeouts: { headers: 1s, idle: 1s } }`).replace('admin: null', 'admin: { address: "127.0.0.1:0" }')
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.http!
  const handlesBefore = await metric(p, 'portico_nodejs_active_handles_total')

  const expect: Record<string, (o: Outcome) => boolean> = {
    'reset-mid-body': o => o.status === 200 && o.aborted,
    'garbage': o => o.status === 502 && !o.aborted,
    'bad-status': o => o.status === 502 && !o.aborted,
    'cl-and-te': o => o.status === 502 && !o.aborted,
    'close-before-response': o => o.status === 502 && !o.aborted,
    'hang-mid-body': o => o.status === 200 && o.aborted,
    'close-after-head': o => o.status === 502 && !o.aborted,
    'hang-after-head': o => o.status === 504 && !o.aborted,
    'hang': o => o.status === 504 && !o.aborted
  }
  for (const name of Object.keys(faults)) {
    // Several at once, so a leak would show in the counts below.
    const outcomes = await Promise.all(Array.from({ length: 5 }, async () => await get(port, `/${name}`)))
    for (const o of outcomes) {
      t.ok(expect[name]!(o), `${name}: ${JSON.stringify(o)}`)
      t.ok(o.ms < 5000, `${name}: settled in ${o.ms} ms`)
    }
  }
  await until('client connections closed', async () => await metric(p, 'portico_connections_active') === 0 ? true : undefined, 10_000)
  t.pass('no client connection left open')
  const handlesAfter = await until('handles back to the baseline', async () => {
    const h = await metric(p, 'portico_nodejs_active_handles_total')
    return h <= handlesBefore ? h : undefined
  }, 15_000).catch(async () => await metric(p, 'portico_nodejs_active_handles_total'))
  t.ok(handlesAfter <= handlesBefore, `active handles ${handlesBefore} before, ${handlesAfter} after (upstream sockets closed)`)
  const upstreamErrors = await (await fetch(`${p.adminUrl}/metrics`)).text()
  t.match(upstreamErrors, /portico_upstream_errors_total\{route="faulty",kind="timeout"\} 10/, 'the hangs are counted as timeouts')
  t.equal(p.child.exitCode, null, 'portico still running')
  figure({ case: 'upstream faults', tried: 'reset mid-body, garbage, bad status line, CL+TE response, close before response, hang mid-body, close or hang after the head, hang (5 concurrent requests each)', count: Object.keys(faults).length * 5, result: `502/504 in bounded time or an aborted response when headers were sent; all < 5 s; client connections 0 afterwards; active handles ${handlesBefore} → ${handlesAfter}` })
})
