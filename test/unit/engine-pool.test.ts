import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { UpstreamPools, type Lease, type OriginSpec } from '../../src/engine/index.js'
import { ConnectingSockets, nameTableFromEntries, type Candidate } from '../../src/dns/index.js'
import { NOT_CONNECTED, NO_SNI } from '../../src/router/index.js'

/** A loopback upstream counting its connections; `closeAll` ends every one of them from its side. */
async function upstream (): Promise<{ origin: string, accepted: () => number, closeAll: () => void, close: () => void }> {
  const sockets = new Set<net.Socket>()
  let accepted = 0
  const server = net.createServer(s => { accepted++; sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => {}) })
  server.listen(0, '127.0.0.2')
  await once(server, 'listening')
  return {
    origin: `http://127.0.0.2:${(server.address() as net.AddressInfo).port}`,
    accepted: () => accepted,
    closeAll: () => { for (const s of sockets) s.end() },
    close: () => { for (const s of sockets) s.destroy(); server.close() }
  }
}

const acquire = async (pools: UpstreamPools, origin: string): Promise<Lease> => await new Promise((resolve, reject) => {
  pools.acquire(spec(origin), (err, lease) => { if (err !== undefined || lease === undefined) reject(err); else resolve(lease) })
})
const spec = (origin: string): OriginSpec => ({ origin, serverName: NO_SNI, tlsVerify: true, connectTimeoutMs: 2000 })
const tick = async (ms = 50): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

t.test('upstream pools: reuse, cap with waiters, idle timeout, upstream closing an idle socket', async t => {
  const up = await upstream()
  t.teardown(() => up.close())
  const pools = new UpstreamPools({ maxPerOrigin: 2, idleTimeoutMs: 300 })
  t.teardown(() => pools.closeIdle())

  const a = await acquire(pools, up.origin)
  t.equal(a.reused, false, 'first connection is new')
  pools.release(spec(up.origin), a.socket, true)
  const b = await acquire(pools, up.origin)
  t.equal(b.socket, a.socket, 'a released socket is reused')
  t.equal(b.reused, true)

  const c = await acquire(pools, up.origin)
  let third: Lease | undefined
  pools.acquire(spec(up.origin), (_err, lease) => { third = lease })
  await tick()
  t.equal(third, undefined, 'past the cap of 2, the third acquisition waits')
  t.equal(up.accepted(), 2)
  pools.release(spec(up.origin), c.socket, true)
  t.equal(third?.socket, c.socket, 'and gets the next released socket')
  pools.release(spec(up.origin), b.socket, false)
  await tick()
  t.ok(b.socket.destroyed, 'a socket released as not reusable is closed')

  pools.release(spec(up.origin), c.socket, true)
  up.closeAll()
  await tick(100)
  t.ok(c.socket.destroyed, 'an idle socket the upstream closed leaves the pool')
  const d = await acquire(pools, up.origin)
  t.equal(d.reused, false, 'so the next acquisition connects anew')
  pools.release(spec(up.origin), d.socket, true)
  await tick(500)
  t.ok(d.socket.destroyed, 'an idle socket is closed after the idle timeout')
})

t.test('upstream pools: a refused connect reports the error and frees its slot', async t => {
  const pools = new UpstreamPools({ maxPerOrigin: 1, idleTimeoutMs: 300 })
  for (let i = 0; i < 3; i++) {
    const err = await acquire(pools, 'http://127.0.0.2:1').then(() => undefined, (e: NodeJS.ErrnoException) => e)
    t.equal(err?.code, 'ECONNREFUSED', `attempt ${i + 1} refused, not stuck behind the cap`)
  }
})

/**
 * The Docker hook (issue 19 finding 4, on the engine): every upstream socket, pooled or a
 * tunnel's, is shown to `onConnecting` before it connects. With the daemon's real
 * ConnectingSockets, a connect to an address the name table just dropped ends at once with
 * EHOSTUNREACH, which the retry rules treat as "never connected" (next candidate).
 */
t.test('upstream pools: the connect hook lets the Docker registry cut connects to a dropped container address', async t => {
  const up = await upstream()
  t.teardown(() => up.close())
  const connecting = new ConnectingSockets()
  const candidate = (ip: string): Candidate => ({ containerId: ip, containerName: ip, ipv4: ip, ipv6: undefined, port: 80, role: 'primary', priority: 0 })
  connecting.update(nameTableFromEntries(1, [['web.test', [candidate('127.0.0.2')]]]))
  const seen: Array<{ host: string, connecting: boolean }> = []
  const pools = new UpstreamPools({
    maxPerOrigin: 4,
    idleTimeoutMs: 300,
    onConnecting: (host, socket) => { seen.push({ host, connecting: socket.connecting }); connecting.track(host, socket) }
  })
  t.teardown(() => pools.closeIdle())

  const cut = new Promise<Error | undefined>(resolve => { pools.acquire(spec(up.origin), err => resolve(err)) })
  // The container left the registry while the connect is under way.
  connecting.update(nameTableFromEntries(2, []))
  const err = await cut
  t.equal((err as NodeJS.ErrnoException | undefined)?.code, 'EHOSTUNREACH', 'the pending connect ended with EHOSTUNREACH')
  t.ok(NOT_CONNECTED.has('EHOSTUNREACH'), '... which the retry rules count as never connected')
  t.same(seen, [{ host: '127.0.0.2', connecting: true }], 'the hook saw the socket before it connected')

  const tunnel = await new Promise<Lease | undefined>(resolve => { pools.openUnpooled(spec(up.origin), (_e, lease) => resolve(lease)) })
  t.ok(tunnel !== undefined, 'an address the table no longer has is not cut: only pending connects at a table change are')
  tunnel?.socket.destroy()
  t.equal(seen.length, 2, 'a tunnel\'s own connection goes through the hook too')
  const lease = await acquire(pools, up.origin)
  t.equal(lease.reused, false, 'the pool slot of the cut connect was freed')
  lease.socket.destroy()
})
