import net, { type Socket } from 'node:net'
import tls from 'node:tls'
import { CONNECT_TIMEOUT, NO_SNI } from '../router/index.js'
import { ReadBuffer, type LargeBudget } from './read-buffer.js'

/** How to reach one origin; origins with the same key share idle connections. */
export interface OriginSpec {
  /** `http://host:port` or `https://host:port` (host may be `[v6]`). */
  origin: string
  /** TLS: SNI and verification name (the router's NO_SNI for none: IP literals). */
  serverName: string
  tlsVerify: boolean
  connectTimeoutMs: number
  /** Trusted CAs for https origins (the route's `tls.ca_file`); default: the system's. */
  ca?: string | undefined
}

export interface PoolLimits {
  /** Open connections per origin (idle + busy); acquisitions beyond it wait. */
  maxPerOrigin: number
  /** An idle connection is closed after this long (by a sweep: within a quarter more), and never handed out past it. */
  idleTimeoutMs: number
  /**
   * Sees every upstream socket before it connects (host as in the origin) and may destroy it:
   * the Docker registry cuts connects to a container address it just dropped (EHOSTUNREACH,
   * which the retry rules treat as never connected), as on the node path's dispatchers.
   */
  onConnecting?: ConnectHook
}

export type ConnectHook = (host: string, socket: Socket) => void

/**
 * Whoever uses a pooled socket between `acquire` and `release` (`claim`ed): the socket's
 * listeners are installed once for its life and call the user, so handing a socket from
 * request to request adds and removes no listener. Without a user the socket is idle.
 */
export interface UpstreamUser {
  /** Bytes from the upstream; on plain sockets a view of the socket's read buffer, valid during the call unless `lent`. */
  upData: (chunk: Buffer) => void
  upEnd: () => void
  upError: (err: Error) => void
  upClose: () => void
  upDrain: () => void
  upTimeout: () => void
}

/** A connection handed out by `acquire`: `reused` when it served a request before (it may have been closed meanwhile). */
export interface Lease { socket: Socket, reused: boolean }

type Waiter = (err: Error | undefined, lease?: Lease) => void


class OriginPool {
  readonly idle: Socket[] = []
  readonly waiting: Array<{ spec: OriginSpec, cb: Waiter }> = []
  open = 0
}

/**
 * Keep-alive upstream connections per origin for the engine: idle sockets are reused last in,
 * first out (the warmest), capped per origin, closed after an idle timeout; a socket the
 * upstream closes while idle leaves the pool at once. No request is written here: the caller
 * owns the socket between `acquire` and `release`.
 */
export class UpstreamPools {
  readonly #pools = new Map<string, OriginPool>()
  readonly #limits: PoolLimits

  constructor (limits: PoolLimits) {
    this.#limits = limits
  }

  acquire (spec: OriginSpec, cb: Waiter): void {
    const key = keyOf(spec)
    let pool = this.#pools.get(key)
    if (pool === undefined) { pool = new OriginPool(); this.#pools.set(key, pool) }
    const now = performance.now()
    for (let idle = pool.idle.pop(); idle !== undefined; idle = pool.idle.pop()) {
      // Past its idle deadline, not swept yet: closed, never handed out.
      if (now > ((idle as PooledSocket)[IDLE_UNTIL] ?? 0)) { idle.destroy(); continue }
      cb(undefined, { socket: idle, reused: true })
      return
    }
    if (pool.open >= this.#limits.maxPerOrigin) { pool.waiting.push({ spec, cb }); return }
    this.#connect(pool, spec, cb)
  }

  /** Returns a socket after a complete exchange; `reusable` false closes it; `idleLimitMs`: the upstream's shorter limit. */
  release (spec: OriginSpec, socket: Socket, reusable: boolean, idleLimitMs?: number): void {
    const pool = this.#pools.get(keyOf(spec))
    if (pool === undefined || !reusable || socket.destroyed || !socket.writable) { socket.destroy(); return }
    ;(socket as PooledSocket)[USER] = undefined
    const next = pool.waiting.shift()
    if (next !== undefined) { next.cb(undefined, { socket, reused: true }); return }
    // No timer per release: a deadline, checked by `acquire` and by one sweep for all pools.
    const idleMs = idleLimitMs === undefined ? this.#limits.idleTimeoutMs : Math.min(idleLimitMs, this.#limits.idleTimeoutMs)
    ;(socket as PooledSocket)[IDLE_UNTIL] = performance.now() + idleMs
    pool.idle.push(socket)
    this.#sweeper ??= setInterval(this.#sweep, Math.max(25, this.#limits.idleTimeoutMs / 4)).unref()
  }

  /**
   * The sweep: while any socket is idle, every quarter of the idle timeout (closed up to ¼ of it after its deadline;
   * `acquire` never hands out one past it).
   */
  #sweeper: NodeJS.Timeout | undefined

  readonly #sweep = (): void => {
    const now = performance.now()
    let left = 0
    for (const pool of this.#pools.values()) {
      // Deadlines differ (an upstream's Keep-Alive hint may shorten one): look at every idle socket.
      for (let i = pool.idle.length - 1; i >= 0; i--) {
        const s = pool.idle[i] as PooledSocket
        if ((s[IDLE_UNTIL] ?? 0) < now) { pool.idle.splice(i, 1); s.destroy() }
      }
      left += pool.idle.length
    }
    if (left === 0) this.#stopSweep()
  }

  #stopSweep (): void {
    if (this.#sweeper === undefined) return
    clearInterval(this.#sweeper)
    this.#sweeper = undefined
  }

  /** A connection that never returns to a pool (upgrades: a tunnel must not hold a pool slot). */
  openUnpooled (spec: OriginSpec, cb: Waiter): Socket {
    return openUpstream(spec, cb, this.#limits.onConnecting)
  }

  /** Closes every idle connection (shutdown, tests). */
  closeIdle (): void {
    for (const pool of this.#pools.values()) for (const s of pool.idle.splice(0)) s.destroy()
    this.#stopSweep()
  }

  #connect (pool: OriginPool, spec: OriginSpec, cb: Waiter): void {
    pool.open++
    const socket = openUpstream(spec, (err, lease) => {
      if (lease !== undefined) pooled(lease.socket, pool)
      cb(err, lease)
    }, this.#limits.onConnecting, true)
    // Every socket of this pool, whatever becomes of it, frees its slot once, and wakes a waiter.
    socket.once('close', () => {
      pool.open--
      const i = pool.idle.indexOf(socket)
      if (i >= 0) pool.idle.splice(i, 1)
      const next = pool.waiting.shift()
      if (next !== undefined) this.acquire(next.spec, next.cb)
    })
  }
}

/**
 * Opens one upstream connection (TCP, or TLS with SNI and verification as the spec says);
 * `cb` once connected, or with the error (CONNECT_TIMEOUT after the connect timeout).
 */
function openUpstream (spec: OriginSpec, cb: Waiter, onConnecting?: ConnectHook, pooledReads = false): Socket {
  const { host, port, secure } = parseOrigin(spec.origin)
  const socket: Socket = secure
    ? tls.connect({
      host, port, servername: spec.serverName === NO_SNI ? undefined : spec.serverName, rejectUnauthorized: spec.tlsVerify, ALPNProtocols: ['http/1.1'],
      ...(spec.ca === undefined ? {} : { ca: spec.ca })
    })
    : pooledReads ? readingInto(host, port) : net.connect({ host, port })
  socket.setNoDelay(true)
  let done = false
  const onTimeout = (): void => finish(Object.assign(new Error('connect timeout'), { code: CONNECT_TIMEOUT }))
  // setTimeout(0) stops the timer but keeps the listener: removed by hand, or it would keep this
  // closure (and whatever `cb` holds) for the socket's whole life.
  const finish = (err: Error | undefined): void => {
    if (done) return
    done = true
    socket.setTimeout(0)
    socket.removeListener('timeout', onTimeout)
    socket.removeListener('error', finish)
    if (err !== undefined) { socket.destroy(); cb(err); return }
    cb(undefined, { socket, reused: false })
  }
  socket.once(secure ? 'secureConnect' : 'connect', () => finish(undefined))
  socket.once('error', finish)
  socket.setTimeout(spec.connectTimeoutMs, onTimeout)
  onConnecting?.(host, socket)
  return socket
}

const POOL = Symbol('pool')
const USER = Symbol('user')
const READS = Symbol('reads')
const IDLE_UNTIL = Symbol('idleUntil')
type PooledSocket = Socket & { [POOL]?: OriginPool, [USER]?: UpstreamUser, [READS]?: ReadBuffer, [IDLE_UNTIL]?: number }

/**
 * Plain pooled sockets read into their own buffer (`onread`, read-buffer.ts): no allocation,
 * `data` event or readable-stream bookkeeping per read. 16 KiB (a response head and a small
 * body), 256 KiB once a read fills it, so a 1 MiB body takes a few read syscalls instead of
 * sixteen — for at most UPSTREAM_LARGE_BUFFERS sockets at once in the process (4 MiB per 16).
 * A user that keeps a reference to the bytes past `upData` (a client write left queued) calls
 * `lent`, and the next read goes into a fresh buffer.
 */
export const UPSTREAM_READ_SMALL = 16 * 1024
export const UPSTREAM_READ_LARGE = 256 * 1024
export const UPSTREAM_LARGE_BUFFERS = 128
const largeBuffers: LargeBudget = { maxLarge: UPSTREAM_LARGE_BUFFERS, used: 0 }

function readingInto (host: string, port: number): Socket {
  const reads = new ReadBuffer(UPSTREAM_READ_SMALL, UPSTREAM_READ_LARGE, largeBuffers)
  // `buffer` is asked for after every read (and once while connect() runs).
  const socket: PooledSocket = net.connect({ host, port, onread: { buffer: reads.next, callback: onRead } })
  socket[READS] = reads
  return socket
}

/** The bytes given to `upData` stay referenced (a queued write): the next read must not overwrite them. */
export function lent (socket: Socket): void { (socket as PooledSocket)[READS]?.lend() }

/** The socket's user until `release` (or its destruction); `release` makes it idle again. */
export function claim (socket: Socket, user: UpstreamUser): void { (socket as PooledSocket)[USER] = user }

/** Gives up a claimed socket without returning it to the pool (it is being destroyed). */
export function unclaim (socket: Socket): void { (socket as PooledSocket)[USER] = undefined }

/** Installs the socket's listeners for its whole life in the pool. */
function pooled (socket: PooledSocket, pool: OriginPool): void {
  ;(socket as PooledSocket)[POOL] = pool
  // Sockets reading into their own buffer get no `data` events (and a listener would not be called).
  if (socket[READS] === undefined) socket.on('data', onData)
  socket.on('end', onEnd)
  socket.on('error', onError)
  socket.on('close', onClose)
  socket.on('drain', onDrain)
  socket.on('timeout', onTimeout)
}

// Idle (no user): bytes from the upstream are a protocol error (nothing may answer an unasked
// request) and a timeout ends the connection; either way it is closed.
function onData (this: PooledSocket, chunk: Buffer): void { const u = this[USER]; if (u !== undefined) u.upData(chunk); else this.destroy() }
// (Called with the socket as `this`; `true`: go on reading, a user pauses the socket itself.)
function onRead (this: PooledSocket, nread: number, buf: Uint8Array): boolean {
  this[READS]?.read(nread, buf)
  const u = this[USER]
  if (u !== undefined) u.upData((buf as Buffer).subarray(0, nread))
  else this.destroy()
  return true
}
function onEnd (this: PooledSocket): void { this[USER]?.upEnd() }
function onError (this: PooledSocket, err: Error): void { this[USER]?.upError(err) }
function onDrain (this: PooledSocket): void { this[USER]?.upDrain() }
function onTimeout (this: PooledSocket): void { const u = this[USER]; if (u !== undefined) u.upTimeout(); else this.destroy() }
function onClose (this: PooledSocket): void {
  this[READS]?.release()
  const u = this[USER]
  if (u !== undefined) { u.upClose(); return }
  const pool = this[POOL]
  const i = pool === undefined ? -1 : pool.idle.indexOf(this)
  if (i >= 0) pool?.idle.splice(i, 1)
}

function keyOf (s: OriginSpec): string {
  return s.origin.startsWith('https:') ? `${s.origin}|${s.serverName}|${s.tlsVerify ? 1 : 0}|${s.ca ?? ''}` : s.origin
}

/** `scheme://host[:port]` → parts; IPv6 brackets removed. */
export function parseOrigin (origin: string): { host: string, port: number, secure: boolean } {
  const secure = origin.startsWith('https:')
  const rest = origin.slice(secure ? 8 : 7)
  const bracket = rest.startsWith('[')
  const hostEnd = bracket ? rest.indexOf(']') + 1 : rest.lastIndexOf(':') >= 0 ? rest.lastIndexOf(':') : rest.length
  const host = bracket ? rest.slice(1, hostEnd - 1) : rest.slice(0, hostEnd)
  const portText = rest.slice(hostEnd + 1).replace(/\/.*$/, '')
  return { host, port: portText === '' ? (secure ? 443 : 80) : Number(portText), secure }
}
