import t from 'tap'
import net from 'node:net'
import tls from 'node:tls'
import { writeFile } from 'node:fs/promises'
import { freePort, startPortico } from '../helpers/portico.js'
import { makePki } from '../helpers/pki.js'
import { closedWithin, connectTcp, exchange, tcpEcho, tlsUpstream } from '../helpers/tcp-peers.js'

const base = `
state_dir: \${STATE}
admin: null
log: { level: info, access: true }
`

t.test('raw TCP to a static pool with failover; access entry per connection; hot reload keeps open connections on their route', async t => {
  const a = await tcpEcho(t, '127.0.0.2', 'A')
  const b = await tcpEcho(t, '127.0.0.3', 'B')
  const dead = await freePort('127.0.0.4')
  const config = (up: string): string => `${base.replace('admin: null', 'admin: { address: "127.0.0.1:0" }')}
listeners: [{ name: stream, address: "127.0.0.1:0", protocol: tcp }]
tcp_routes:
  - { name: echo, listeners: [stream], upstreams: ["127.0.0.4:${dead}", "${up}"], timeouts: { connect: 1s, idle: 20s } }
`
  const p = await startPortico({ config: config(`127.0.0.2:${a.port}`) })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.stream!
  const open = await connectTcp(port)
  t.equal(await exchange(open, 'hello', 7), 'A:hello', 'dead first upstream skipped, second serves')
  const entry = await p.waitForLog(l => l.msg === 'tcp connection', 500).catch(() => undefined)
  t.equal(entry, undefined, 'no access entry while the connection is open')

  await writeFile(p.configFile, config(`127.0.0.3:${b.port}`).replaceAll('${STATE}', `${p.dir}/state`))
  await p.waitForLog(l => l.msg === 'config reloaded', 10_000)
  t.equal(await exchange(open, 'again', 7), 'A:again', 'the open connection keeps its upstream after the reload')
  const fresh = await connectTcp(port)
  t.equal(await exchange(fresh, 'new', 5), 'B:new', 'a new connection uses the new route')
  fresh.end()
  open.end()
  const line = await p.waitForLog(l => l.msg === 'tcp connection' && (l.tcp as { upstream: string }).upstream === `127.0.0.2:${a.port}`)
  const e = line.tcp as Record<string, unknown>
  t.match(e, { listener: 'stream', client: '127.0.0.1', route: 'echo', sni: null, bytes_in: 10, bytes_out: 14, error: null })
  t.ok(typeof e.duration_ms === 'number')
  await p.waitForLog(l => l.msg === 'tcp connection' && (l.tcp as { upstream: string }).upstream === `127.0.0.3:${b.port}`)
  const metrics = await (await fetch(`${p.adminUrl}/metrics`)).text()
  t.match(metrics, /portico_tcp_connections_total\{listener="stream",route="echo",result="ok"\} 2/, 'connections per route')
  t.match(metrics, /portico_tcp_bytes_total\{route="echo",direction="in"\} 13/, 'bytes in per route')
  t.match(metrics, /portico_tcp_bytes_total\{route="echo",direction="out"\} 19/, 'bytes out per route')
})

t.test('idle timeout and max_connections per listener', async t => {
  const a = await tcpEcho(t, '127.0.0.2', 'A')
  const p = await startPortico({
    config: `${base}
listeners: [{ name: stream, address: "127.0.0.1:0", protocol: tcp, max_connections: 2 }]
tcp_routes: [{ listeners: [stream], upstreams: ["127.0.0.2:${a.port}"], timeouts: { idle: 300ms } }]
`
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.stream!
  const s1 = await connectTcp(port)
  t.equal(await exchange(s1, 'x', 3), 'A:x')
  t.ok(await closedWithin(s1, 3000) < 3000, 'an idle connection is closed')
  t.match((await p.waitForLog(l => l.msg === 'tcp connection')).tcp, { error: 'idle timeout' })
  const held = [await connectTcp(port), await connectTcp(port)]
  await new Promise(resolve => setTimeout(resolve, 100))
  const third = await connectTcp(port)
  t.ok(await closedWithin(third, 3000) < 3000, 'the third connection over max_connections is refused')
  for (const h of held) h.destroy()
})

t.test('TLS passthrough by SNI: the client sees the upstream certificates, portico terminates nothing', async t => {
  const pa = makePki(['a.test'])
  const pb = makePki(['b.test'])
  const portA = await tlsUpstream(t, '127.0.0.2', pa, 'upstream-a')
  const portB = await tlsUpstream(t, '127.0.0.3', pb, 'upstream-b')
  const p = await startPortico({
    config: `${base}
listeners: [{ name: pass, address: "127.0.0.1:0", protocol: tcp, tls_passthrough: true, handshake_timeout: 1s }]
tcp_routes:
  - { name: a, listeners: [pass], sni: [a.test], upstreams: ["127.0.0.2:${portA}"] }
  - { name: b, listeners: [pass], sni: ["*.b.test", b.test], upstreams: ["127.0.0.3:${portB}"] }
`
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.pass!
  for (const [name, pki, tag] of [['a.test', pa, 'upstream-a'], ['b.test', pb, 'upstream-b'], ['x.b.test', pb, 'upstream-b']] as const) {
    const s = tls.connect({ host: '127.0.0.1', port, servername: name, ca: pki.caCert, checkServerIdentity: () => undefined })
    const got = await new Promise<string>((resolve, reject) => {
      let data = ''
      s.on('data', (d: Buffer) => { data += d.toString() })
      s.once('end', () => resolve(data))
      s.once('error', reject)
    })
    t.equal(got, tag, `${name} reaches its upstream`)
    t.ok(s.authorized, `${name}: verified against the upstream's own CA (portico holds no certificate)`)
    t.equal(s.getPeerX509Certificate()?.subject, `CN=${name === 'x.b.test' ? 'b.test' : name}`)
  }
  const unknown = tls.connect({ host: '127.0.0.1', port, servername: 'c.test', rejectUnauthorized: false })
  unknown.on('error', () => {})
  t.ok(await closedWithin(unknown, 3000) < 3000, 'an SNI without a route is closed')
  t.match((await p.waitForLog(l => l.msg === 'tcp connection' && (l.tcp as { sni: string }).sni === 'c.test')).tcp, { error: 'no tcp route for SNI c.test', route: null })
})

/** A ClientHello record header claiming `length` bytes, followed by `body`. */
const record = (length: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, length >> 8, length & 0xff]), body])

/** Connect, TLS handshake through the passthrough listener, first bytes from the upstream: ms. */
async function handshakeMs (port: number): Promise<number> {
  const start = performance.now()
  await new Promise<void>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'a.test', rejectUnauthorized: false })
    s.once('data', () => { s.destroy(); resolve() })
    s.once('error', reject)
  })
  return performance.now() - start
}

const p90 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)]!

t.test('hostile ClientHellos are closed (bounded bytes and time) while another client\'s latency stays unaffected', async t => {
  const pa = makePki(['a.test'])
  const portA = await tlsUpstream(t, '127.0.0.2', pa, 'upstream-a')
  const p = await startPortico({
    config: `${base}
listeners: [{ name: pass, address: "127.0.0.1:0", protocol: tcp, tls_passthrough: true, handshake_timeout: 1500ms }]
tcp_routes: [{ name: a, listeners: [pass], sni: [a.test], upstreams: ["127.0.0.2:${portA}"] }]
`
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.pass!
  const samples = 40
  for (let i = 0; i < 10; i++) await handshakeMs(port) // warm-up, so idle is not measured on cold code
  const idle: number[] = []
  for (let i = 0; i < samples; i++) idle.push(await handshakeMs(port))

  const hostile: Array<[string, (s: net.Socket) => void, number]> = [
    ['garbage', s => s.write(Buffer.from('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n')), 1000],
    ['oversized record length', s => s.write(record(0xffff, Buffer.alloc(100))), 1000],
    ['not a ClientHello', s => s.write(record(8, Buffer.from([0x02, 0, 0, 4, 3, 3, 0, 0]))), 1000],
    ['hello longer than its record', s => s.write(record(8, Buffer.from([0x01, 0, 0x10, 0, 3, 3, 0, 0]))), 1000],
    ['truncated hello, then silence', s => s.write(record(400, Buffer.alloc(100))), 3500],
    ['silent client', () => {}, 3500]
  ]
  // Slowloris clients trickle a plausible record one byte at a time: closed at handshake_timeout.
  const slow = Array.from({ length: 30 }, () => net.connect({ host: '127.0.0.1', port }))
  const trickle = record(512, Buffer.alloc(512, 1))
  let sent = 0
  const timer = setInterval(() => { for (const s of slow) if (!s.destroyed) s.write(trickle.subarray(sent, sent + 1)); sent++ }, 100)
  t.teardown(() => clearInterval(timer))
  const closings = [
    ...hostile.map(async ([name, send, bound]) => {
      const s = await connectTcp(port)
      send(s)
      t.ok(await closedWithin(s, bound) < bound, `${name}: closed`)
    }),
    ...slow.map(async s => await closedWithin(s, 4000))
  ]
  const loaded: number[] = []
  for (let i = 0; i < samples; i++) loaded.push(await handshakeMs(port))
  const slowClosed = await Promise.allSettled(closings)
  t.equal(slowClosed.filter(r => r.status === 'rejected').length, 0, 'every hostile client was closed in time')
  t.ok(p90(loaded) <= Math.max(2 * p90(idle), p90(idle) + 25), `handshake p90 idle ${p90(idle).toFixed(1)} ms, with hostile clients ${p90(loaded).toFixed(1)} ms`)
  const refused = p.logs.filter(l => l.msg === 'tcp connection' && (l.tcp as { error: string | null }).error !== null).map(l => (l.tcp as { error: string }).error)
  t.ok(refused.includes('handshake timeout'), 'slow and silent clients: handshake timeout')
  t.ok(refused.includes('bad record length 65535'), 'oversized: refused from the header alone')
})
