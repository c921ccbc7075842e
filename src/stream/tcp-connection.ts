import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import type { ListenerConfig } from '../config/index.js'
import type { Snapshot } from '../snapshot/index.js'
import { MAX_HELLO_BYTES, parseClientHello } from './client-hello.js'
import { encodeV1, encodeV2, plainAddress, sslTlvs, type Endpoint } from './proxy-protocol.js'
import { acceptProxyHeader } from './proxy-accept.js'
import { readClientCert, type ClientCert } from '../router/index.js'
import { readPreamble } from './preamble.js'
import { tcpTableOf, type TcpRoute } from './tcp-table.js'
import { connectFirst, type Target } from './upstream-connect.js'

/** One line per TCP connection, written when it closes. */
export interface TcpAccessEntry {
  listener: string
  client: string
  client_port: number
  sni: string | null
  client_cert: string | null
  route: string | null
  upstream: string | null
  bytes_in: number
  bytes_out: number
  duration_ms: number
  error: string | null
}

export interface TcpConnectionDeps {
  view: () => Snapshot
  access: (e: TcpAccessEntry) => void
  /** For `tls: true`: runs the server side of the handshake (certificates, client CA) on the raw socket. */
  handshake?: ((raw: Socket) => Promise<TLSSocket | string>) | undefined
}

type Peer = ClientCert

/**
 * Serves one accepted TCP connection: optional PROXY header (trusted sources only), optional
 * ClientHello read (passthrough) or TLS handshake (termination), route pick from the snapshot
 * current at accept (a reload never moves an open connection), upstream connect with failover,
 * then bytes both ways until either side closes or the route's idle timeout.
 */
export async function serveTcp (l: ListenerConfig, deps: TcpConnectionDeps, raw: Socket): Promise<void> {
  const snap = deps.view()
  const started = performance.now()
  const entry: TcpAccessEntry = {
    listener: l.name, client: plainAddress(raw.remoteAddress ?? ''), client_port: raw.remotePort ?? 0, sni: null, client_cert: null,
    route: null, upstream: null, bytes_in: 0, bytes_out: 0, duration_ms: 0, error: null
  }
  let client: Socket = raw
  let upstream: Socket | undefined
  let headerBytes = 0
  let done = false
  const finish = (error?: string): void => {
    if (done) return
    done = true
    clearTimeout(deadline)
    if (error !== undefined) entry.error = error
    if (error !== undefined) { client.destroy(); raw.destroy(); upstream?.destroy() }
    if (upstream !== undefined) {
      entry.bytes_in = Math.max(0, upstream.bytesWritten - headerBytes)
      entry.bytes_out = upstream.bytesRead
    }
    entry.duration_ms = Math.round(performance.now() - started)
    deps.access(entry)
  }
  // One deadline for everything before the route is known: PROXY header, ClientHello, handshake.
  const deadline = setTimeout(() => finish('handshake timeout'), l.handshake_timeout)
  raw.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message))
  raw.once('close', () => { if (upstream === undefined) finish('client closed') })

  let buffered: Buffer = Buffer.alloc(0)
  let destination: Endpoint = { address: raw.localAddress ?? '', port: raw.localPort ?? 0 }
  if (l.accept_proxy_protocol) {
    const r = await acceptProxyHeader(raw, snap.trustedProxies)
    if (done) return
    if (!r.ok) return finish(r.reason)
    if (r.source !== undefined) {
      entry.client = plainAddress(r.source.address)
      entry.client_port = r.source.port
    }
    if (r.destination !== undefined) destination = r.destination
    buffered = r.rest
  }
  let peer: Peer | undefined
  if (l.tls_passthrough) {
    const r = await readPreamble(raw, buffered, MAX_HELLO_BYTES, parseClientHello)
    if (done) return
    if (!r.ok) return finish(r.reason)
    entry.sni = r.value.sni ?? null
    buffered = r.all
  } else if (l.tls && deps.handshake !== undefined) {
    const secured = await handshake(raw, buffered, deps.handshake, l.client_ca_file !== undefined && l.client_auth === 'required')
    if (done) return
    if (typeof secured === 'string') return finish(secured)
    client = secured.socket
    peer = secured.peer
    buffered = Buffer.alloc(0)
    const servername: unknown = secured.socket.servername
    entry.sni = typeof servername === 'string' ? servername : null
    entry.client_cert = peer.subject ?? null
    client.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message))
  }
  const route = tcpTableOf(snap.config).pick(l.name, entry.sni ?? undefined)
  if (route === undefined) return finish(`no tcp route for ${entry.sni === null ? 'this listener' : `SNI ${entry.sni}`}`)
  entry.route = route.name
  clearTimeout(deadline)
  const targets = targetsOf(route, snap)
  if (targets.length === 0) return finish(`no running container answers for ${route.docker?.name ?? ''}`)
  const c = await connectFirst(targets, route.connectMs, () => !done)
  if (done) { if ('socket' in c) c.socket.destroy(); return }
  if ('error' in c) return finish(c.error)
  upstream = c.socket
  entry.upstream = `${c.target.host}:${c.target.port}`
  upstream.on('error', (err: NodeJS.ErrnoException) => finish(`upstream ${err.code ?? err.message}`))
  const header = proxyHeader(route, { address: entry.client, port: entry.client_port }, destination, peer)
  headerBytes = header.length
  if (header.length > 0) upstream.write(header)
  if (buffered.length > 0) upstream.write(buffered)
  splice(client, upstream, route.idleMs, finish)
}

/** Bytes both ways; a half-close is passed on, and the entry is written once both sides closed. */
function splice (client: Socket, upstream: Socket, idleMs: number, finish: (error?: string) => void): void {
  let open = 2
  const closed = (): void => { if (--open === 0) finish() }
  client.once('close', closed)
  upstream.once('close', closed)
  // A side that is gone for good (both directions) lets the other flush and end.
  client.once('close', () => upstream.end())
  upstream.once('close', () => client.end())
  client.setTimeout(idleMs, () => finish('idle timeout'))
  client.pipe(upstream)
  upstream.pipe(client)
  client.resume()
}

async function handshake (raw: Socket, buffered: Buffer, run: (raw: Socket) => Promise<TLSSocket | string>, required: boolean): Promise<{ socket: TLSSocket, peer: Peer } | string> {
  if (buffered.length > 0) raw.unshift(buffered)
  const socket = await run(raw)
  if (typeof socket === 'string') return socket
  // Node's server refuses an unverified client when client_auth is required; checked again so it never depends on that alone.
  if (required && !socket.authorized) { socket.destroy(); return `client certificate refused: ${String(socket.authorizationError ?? 'none presented')}` }
  return { socket, peer: readClientCert(socket) }
}

function targetsOf (route: TcpRoute, snap: Snapshot): Target[] {
  if (route.upstreams !== undefined) return [...route.upstreams]
  const d = route.docker!
  return (snap.names.lookup(d.name) ?? []).flatMap(c => {
    const host = c.ipv4 ?? c.ipv6
    return host === undefined ? [] : [{ host, port: d.port }]
  })
}

function proxyHeader (route: TcpRoute, source: Endpoint, destination: Endpoint, peer: Peer | undefined): Buffer {
  if (route.proxyProtocol === 'v1') return encodeV1(source, destination)
  if (route.proxyProtocol === 'v2') return encodeV2(source, destination, peer === undefined ? [] : sslTlvs(peer))
  return Buffer.alloc(0)
}
