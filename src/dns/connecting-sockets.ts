import type { Socket } from 'node:net'
import type { NameTable } from './registry.js'

/**
 * Upstream connections still being opened to container addresses. When a new name table no
 * longer has an address (its container died or was removed), the connections to it that have
 * not connected yet are destroyed with EHOSTUNREACH at once, instead of waiting out the connect
 * timeout: the proxy counts that as "never connected" and tries the next candidate.
 */
export class ConnectingSockets {
  #addresses: ReadonlySet<string> = new Set()
  readonly #pending = new Map<string, Set<Socket>>()

  /** Called with every table the process swaps in. */
  update (table: NameTable): void {
    const next = new Set<string>()
    for (const [, candidates] of table.entries()) for (const c of candidates) for (const ip of [c.ipv4, c.ipv6]) if (ip !== undefined) next.add(ip)
    this.#addresses = next
    for (const [ip, sockets] of this.#pending) {
      if (next.has(ip)) continue
      this.#pending.delete(ip)
      for (const s of sockets) s.destroy(Object.assign(new Error(`container address ${ip} left the registry while connecting`), { code: 'EHOSTUNREACH' }))
    }
  }

  /** A connection being opened to `host` (a container address or anything else: others are ignored). */
  track (host: string, socket: Socket): void {
    const ip = host.replace(/^\[|\]$/g, '')
    if (!this.#addresses.has(ip)) return
    let set = this.#pending.get(ip)
    if (set === undefined) this.#pending.set(ip, set = new Set())
    set.add(socket)
    const forget = (): void => {
      set.delete(socket)
      if (set.size === 0 && this.#pending.get(ip) === set) this.#pending.delete(ip)
    }
    socket.once('connect', forget)
    socket.once('close', forget)
  }
}
