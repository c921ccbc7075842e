import http from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'

/**
 * A loopback pool member for load-balancing and health-check tests: answers its own name,
 * its health path with a status the test sets, and (when `holding`) keeps `/slow` requests
 * open until released. Counts what it served.
 */
export interface PoolMember {
  readonly name: string
  readonly origin: string
  /** Status of `/health` (change it to make checks fail). */
  health: number
  /** Hold `/slow` requests open (least_conn tests). */
  holding: boolean
  readonly held: http.ServerResponse[]
  /** Requests served by path kind. */
  readonly hits: { health: number, other: number }
  /** Host headers the health probes carried. */
  readonly probeHosts: Set<string>
  release (): void
  close (): Promise<void>
}

export async function poolMember (t: Test, name: string, host: string): Promise<PoolMember> {
  const m = {
    name, origin: '', health: 200, holding: false, held: [] as http.ServerResponse[], hits: { health: 0, other: 0 }, probeHosts: new Set<string>(),
    release () { for (const r of m.held.splice(0)) r.end(name) },
    close: async () => {}
  }
  const server = http.createServer((req, res) => {
    if (req.url === '/health') {
      m.hits.health++
      m.probeHosts.add(req.headers.host ?? '')
      res.writeHead(m.health).end()
      return
    }
    m.hits.other++
    if (req.url === '/slow' && m.holding) { m.held.push(res); return }
    res.end(name)
  })
  server.listen(0, host)
  await once(server, 'listening')
  let closed = false
  m.close = async () => {
    if (closed) return
    closed = true
    m.release()
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  }
  t.teardown(m.close)
  m.origin = `http://${host}:${(server.address() as AddressInfo).port}`
  return m
}

/** Which member answered each of `n` sequential requests, counted by name. */
export async function tally (n: number, one: () => Promise<string>): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (let i = 0; i < n; i++) { const who = await one(); counts[who] = (counts[who] ?? 0) + 1 }
  return counts
}
