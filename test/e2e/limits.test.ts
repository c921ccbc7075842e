import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { httpConfig, startPortico, type Portico } from '../helpers/portico.js'
import { send } from '../helpers/http.js'
import { figure } from '../helpers/figures.js'
import { rawExchange } from '../helpers/raw-socket.js'
import { rssOf, MiB } from '../helpers/rss.js'

const routes = '  - name: home\n    respond: { status: 200, body: "ok" }'
const config = (limits: string): string => httpConfig(routes, `limits: { ${limits} }`).replace('admin: null', 'admin: { address: "127.0.0.1:0" }')

const head = (n: number, extra = ''): string => `GET / HTTP/1.1\r\nHost: a.test\r\n${Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join('')}${extra}Connection: close\r\n\r\n`

t.test('oversized and too many headers get 431; portico keeps serving', async t => {
  const p = await startPortico({ config: config('max_header_size: 8k, max_headers: 20') })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.http!
  const big = await rawExchange(port, s => { s.write(`GET / HTTP/1.1\r\nHost: a.test\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`) }, 3000)
  t.match(big.text, /^HTTP\/1\.1 431 /, '10 kB header over an 8k limit: 431')
  t.ok(big.closedAfterMs !== undefined, 'and the connection is closed')
  const longLine = await rawExchange(port, s => { s.write(`GET /${'a'.repeat(10_000)} HTTP/1.1\r\nHost: a.test\r\n\r\n`) }, 3000)
  t.match(longLine.text, /^HTTP\/1\.1 431 /, 'a 10 kB request line: 431')
  // Host + Connection + n: 18 extra headers are 20 in all (allowed), 19 are 21 (refused).
  t.match((await rawExchange(port, s => { s.write(head(18)) }, 3000)).text, /^HTTP\/1\.1 200 /, '20 headers: served')
  t.match((await rawExchange(port, s => { s.write(head(19)) }, 3000)).text, /^HTTP\/1\.1 431 /, '21 headers: 431')
  t.equal((await send(port, 'a.test')).status, 200, 'still serving')
  figure({ case: 'oversized heads', tried: '10 kB header and 10 kB request line over an 8k limit; 20 and 21 headers over a limit of 20', count: 4, result: '431 and close; 20 served, 21 → 431; still serving' })
})

t.test('slowloris: trickled headers and slow bodies are cut off by the timeouts', async t => {
  const p = await startPortico({ config: config('header_timeout: 1s, request_timeout: 2s') })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.http!
  let trickled = 0
  const loris = await rawExchange(port, s => {
    s.write('GET / HTTP/1.1\r\nHost: a.test\r\n')
    const timer = setInterval(() => { if (s.writable) { s.write(`X-${trickled++}: y\r\n`) } }, 200)
    s.once('close', () => clearInterval(timer))
  }, 8000)
  t.match(loris.text, /^HTTP\/1\.1 408 /, 'headers that never end: 408')
  t.ok(loris.closedAfterMs !== undefined && loris.closedAfterMs >= 900 && loris.closedAfterMs < 4000, `closed after ${loris.closedAfterMs ?? '-'} ms (header_timeout 1s, checked every second)`)
  const slowBody = await rawExchange(port, s => {
    s.write('POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1000\r\n\r\n')
    const timer = setInterval(() => { if (s.writable) s.write('x') }, 200)
    s.once('close', () => clearInterval(timer))
  }, 8000)
  t.ok(slowBody.closedAfterMs !== undefined && slowBody.closedAfterMs < 5000, `a body trickled at 5 B/s is cut off (closed after ${slowBody.closedAfterMs ?? '-'} ms, request_timeout 2s)`)
  t.equal((await send(port, 'a.test')).status, 200, 'normal clients unaffected')
  figure({ case: 'slowloris', tried: 'headers trickled one line per 200 ms (header_timeout 1s); a 1000 B body at 5 B/s (request_timeout 2s)', count: 2, result: `408 and closed after ${loris.closedAfterMs ?? '-'} ms; slow body closed after ${slowBody.closedAfterMs ?? '-'} ms; other clients served` })
})

t.test('connection limits: per listener and per client address, excess refused at accept', async t => {
  const p = await startPortico({ config: config('max_connections: 6, max_connections_per_ip: 3') })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.http!
  const held: net.Socket[] = []
  t.teardown(() => { for (const s of held) s.destroy() })
  const open = async (localAddress: string): Promise<net.Socket> => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress })
    s.on('error', () => {})
    await once(s, 'connect')
    held.push(s)
    return s
  }
  const refused = async (s: net.Socket): Promise<boolean> => await Promise.race([once(s, 'close').then(() => true), new Promise<boolean>(resolve => setTimeout(() => resolve(false), 1500))])
  for (let i = 0; i < 3; i++) await open('127.0.0.1')
  await waitConnections(p, 3)
  t.ok(await refused(await open('127.0.0.1')), 'a 4th connection from 127.0.0.1 is closed at once')
  for (let i = 0; i < 3; i++) await open('127.0.0.2')
  await waitConnections(p, 6)
  t.ok(await refused(await open('127.0.0.3')), 'a 7th connection to the listener is closed at once, whatever its address')
  const survivor = held[0]!
  survivor.write('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n')
  const [chunk] = await once(survivor, 'data') as [Buffer]
  t.match(chunk.toString(), /^HTTP\/1\.1 200 /, 'the admitted connections are served')
  for (const s of held) s.destroy()
  await waitConnections(p, 0)
  t.equal((await send(port, 'a.test')).status, 200, 'capacity is back once they close')

  // Limits follow a reload without a rebind.
  await writeFile(p.configFile, config('max_connections: 6, max_connections_per_ip: 1'))
  await p.waitForLog(l => l.msg === 'config reloaded', 10_000)
  await open('127.0.0.1')
  t.ok(await refused(await open('127.0.0.1')), 'after reload: a 2nd connection from the same address is refused')
  figure({ case: 'connection floods', tried: 'max_connections 6, max_connections_per_ip 3: idle connections from 127.0.0.1/.2/.3, then the per-IP limit lowered to 1 by reload', count: 9, result: 'excess connections closed at accept; admitted ones served; capacity back after close; reload applied without rebind' })
})

async function waitConnections (p: Portico, n: number): Promise<void> {
  const deadline = Date.now() + 5000
  while (Date.now() < deadline) {
    const m = await (await fetch(`${p.adminUrl}/metrics`)).text()
    // The admin scrape itself is on another listener, so only the http listener's sockets count.
    if (Number(/^portico_connections_active (\d+)/m.exec(m)?.[1]) === n) return
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`connections never reached ${n}`)
}

t.test('a connection flood past max_connections: excess closed at once, memory bounded', async t => {
  const p = await startPortico({ config: config('max_connections: 500') })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.http!
  const FLOOD = 3000
  const rss0 = await rssOf(p.child.pid!)
  const sockets: net.Socket[] = []
  t.teardown(() => { for (const s of sockets) s.destroy() })
  let closedEarly = 0
  const started = Date.now()
  for (let i = 0; i < FLOOD; i += 250) {
    await Promise.all(Array.from({ length: Math.min(250, FLOOD - i) }, async () => {
      const s = net.connect({ port, host: '127.0.0.1' })
      s.on('error', () => {})
      s.once('close', () => { closedEarly++ })
      sockets.push(s)
      await Promise.race([once(s, 'connect'), once(s, 'close')])
    }))
  }
  const deadline = Date.now() + 5000
  while (closedEarly < FLOOD - 500 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  const floodMs = Date.now() - started
  const refused = closedEarly
  const rss1 = await rssOf(p.child.pid!)
  t.comment(`${FLOOD} connections opened in ${floodMs} ms; ${refused} closed by portico; RSS ${(rss0 / MiB).toFixed(0)} → ${(rss1 / MiB).toFixed(0)} MiB`)
  t.equal(refused, FLOOD - 500, 'everything past the 500 allowed was closed at accept')
  t.ok(rss1 - rss0 < 48 * MiB, `memory bounded: +${((rss1 - rss0) / MiB).toFixed(1)} MiB for ${FLOOD} connection attempts`)
  for (const s of sockets) s.destroy()
  await waitConnections(p, 0)
  t.equal((await send(port, 'a.test')).status, 200, 'served again once the flood is gone')
  figure({ case: 'connection flood', tried: `${FLOOD} idle connections against max_connections 500`, count: FLOOD, result: `${refused} closed at accept within ${floodMs} ms, 500 admitted; RSS +${((rss1 - rss0) / MiB).toFixed(1)} MiB; served afterwards` })
})
