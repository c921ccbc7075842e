import { STATUS_CODES, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Dispatcher } from 'undici'
import { openRequest, type OpenedRequest } from './open-request.js'
import { clientResponseHeaders, forwardFacts, upstreamRequestHeaders, type ResponseHeaderMap } from './headers.js'
import { upstreamServerName } from './forward.js'
import { nextRequestId } from './request-id.js'
import { upgradeOrigins } from './upgrade-origins.js'
import { failureStatus } from './retry.js'
import { originHost } from './origin-host.js'
import { responseEditor } from './response-editor.js'
import { nodeRequestInfo, type RequestInfo } from './request-info.js'
import type { ListenerInfo, RouterDeps, RouterView } from './view.js'
import type { Decision } from './decide.js'
import { applyUpstreamEdits, gateRequestOf, type UpstreamEdits } from './gates/index.js'
import type { Answer } from './reply.js'

/**
 * HTTP/1.1 Upgrade (WebSocket: Guacamole, JupyterLab) dispatched through undici with `upgrade`,
 * then piped both ways (a declined upgrade's answer is passed on instead). The tunnel holds no reference to the snapshot, so it survives reloads;
 * both sockets close together and an idle tunnel is closed after the route's idle timeout.
 */
export function createUpgradeHandler (deps: RouterDeps, listener: ListenerInfo): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    const rid = nextRequestId()
    try {
      upgrade(deps, listener, req, socket, head, rid)
    } catch (err) {
      // As on the HTTP path: a bug is logged at error level and answered with a 502.
      deps.fault?.(err instanceof Error ? err : new Error(String(err)), { rid, host: req.headers.host, path: req.url ?? '', route: undefined })
      if (!socket.destroyed) socket.end(upgradeFault(rid))
    }
  }
}

function upgrade (deps: RouterDeps, listener: ListenerInfo, req: IncomingMessage, socket: Duplex, head: Buffer, rid: string): void {
  const view = deps.view()
  socket.on('error', destroyOnError)
  const info = nodeRequestInfo(req)
  const opened = openRequest(deps, view, listener, info, rid, true)
  const u: PendingUpgrade = { deps, listener, req, info, socket, head, rid, view, opened }
  // A throw in proceed() too (before anything was written): not an unhandled rejection and a hung client.
  upgradeGates(view, listener, info, opened, socket).then(v => { if (v !== false) proceed(u, v) }).catch((err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err))
    deps.fault?.(e, { rid, host: opened.host, path: opened.url, route: opened.decision.route?.name })
    if (!socket.destroyed) socket.end(upgradeFault(rid))
    opened.log(502, 0, undefined, `internal error: ${e.message}`)
  })
}

/**
 * The route's gates for an upgrade (websockets must not bypass auth), on every transport:
 * their edits when they let it through (undefined: no gates, or not proxied), false when a
 * refusal was written on the socket (then closed) and logged.
 */
export async function upgradeGates (
  view: RouterView, listener: ListenerInfo, info: RequestInfo, opened: OpenedRequest, socket: Duplex
): Promise<UpstreamEdits | undefined | false> {
  const d = opened.decision
  const gates = d.route?.gates
  if (d.action !== 'proxy' || gates === undefined) return undefined
  const v = await gates.run(gateRequestOf(info, opened.url, opened.host, listener.tls ? 'https' : 'http', opened.rid, view.trustedProxies))
  if (v.pass) return v.edits
  if (!socket.destroyed) socket.end(answerBytes(v.refusal.answer))
  opened.log(v.refusal.answer.status, 0, undefined, v.refusal.reason)
  return false
}

/** An upgrade request past its gates' check, with the snapshot it was decided on. */
interface PendingUpgrade {
  deps: RouterDeps
  listener: ListenerInfo
  req: IncomingMessage
  info: RequestInfo
  socket: Duplex
  head: Buffer
  rid: string
  view: RouterView
  opened: OpenedRequest
}

function proceed (u: PendingUpgrade, edits: UpstreamEdits | undefined): void {
  const { deps, listener, req, info, socket, head, rid, view } = u
  const { host, url, forcedHost, decision: d, log } = u.opened
  if (d.action !== 'proxy') {
    const r = upgradeRefusal(d, rid)
    socket.end(r.head)
    log(r.status, 0, undefined, d.reason)
    return
  }
  const origins = upgradeOrigins(d, info, view.trustedProxies, socket)
  const proto = listener.tls ? 'https' : 'http'
  const facts = forwardFacts(info.peer, proto, host, rid, view.trustedProxies, view.via, view.clientCertHeaders, info.clientCert)
  const idleMs = d.upstream.websocketIdleTimeoutMs
  // The route's response edits (UAP cookie scoping) on the 101 head and a declined answer alike.
  const edit = responseEditor(d.route, host, undefined)
  const attempt = (origin: string): void => {
    const hostOverride = d.upstream.preserveHost ? forcedHost : originHost(origin)
    const headers = applyUpstreamEdits(upstreamRequestHeaders(req.rawHeaders, facts, hostOverride), edits)
    const options = {
      origin, path: edits?.path ?? url, method: 'GET', headers, body: null, upgrade: req.headers.upgrade ?? 'websocket',
      servername: upstreamServerName(d.upstream.serverName, origin)
    } as Dispatcher.DispatchOptions
    let answered = false
    view.dispatchers.get(d.upstream).dispatch(options, {
      onRequestStart () {},
      onRequestUpgrade (_controller, _status, upHeaders, upstream) {
        if (socket.destroyed) { upstream.destroy(); return }
        answered = true
        const h = edit === undefined ? upHeaders : { ...upHeaders }
        edit?.(h)
        socket.write(responseHead(101, 'Switching Protocols', h, false))
        if (head.length > 0) upstream.write(head)
        tunnel(socket, upstream as Duplex, idleMs, deps.tunnels)
        log(101, 0, origin)
      },
      // The upstream declined the upgrade (a 404 for a gone Jupyter kernel, a 401...): its answer
      // is passed on as it is, then the connection closes (it was never a tunnel).
      onResponseStart (controller, status, upHeaders, statusText) {
        if (status < 200) return
        if (socket.destroyed) { controller.abort(new Error('client closed the connection')); return }
        answered = true
        const h = clientResponseHeaders(upHeaders)
        edit?.(h)
        socket.write(responseHead(status, statusText ?? '', h, true))
        log(status, 0, origin)
      },
      onResponseData (_controller, chunk) { socket.write(chunk) },
      onResponseEnd () { socket.end() },
      onResponseError (_controller, err) {
        if (answered) { socket.destroy(); return }
        const code = (err as NodeJS.ErrnoException).code
        const next = socket.destroyed ? undefined : origins.failed(code ?? '')
        if (next !== undefined) { attempt(next); return }
        const status = failureStatus(code ?? '')
        if (!socket.destroyed) socket.end(`${statusLine(status)}content-length: 0\r\nconnection: close\r\nx-request-id: ${rid}\r\n\r\n`)
        log(status, 0, origin, code ?? err.message)
      }
    })
  }
  attempt(origins.current)
}

/** The answer to an upgrade that is not proxied (a deny's or redirect's status, else 404), on every transport. */
export function upgradeRefusal (d: Exclude<Decision, { action: 'proxy' }>, rid: string): { status: number, head: string } {
  const status = d.action === 'deny' || d.action === 'redirect' ? d.status : 404
  const extra = d.action === 'redirect' ? `location: ${d.location}\r\n` : ''
  return { status, head: `${statusLine(status)}${extra}content-length: 0\r\nconnection: close\r\nx-request-id: ${rid}\r\n\r\n` }
}

/** portico's own failure on an upgrade before anything was written: 502, then the connection closes. */
export function upgradeFault (rid: string): string {
  return `${statusLine(502)}content-length: 0\r\nconnection: close\r\nx-request-id: ${rid}\r\n\r\n`
}

/** A gate's refusal (401, 403, an auth service's redirect) on the raw socket, then the connection closes. */
function answerBytes (a: Answer): Buffer {
  const body = typeof a.body === 'string' ? Buffer.from(a.body) : a.body
  let out = statusLine(a.status)
  for (const [k, v] of a.headers) out += `${k}: ${v.replace(/[\r\n]/g, '')}\r\n`
  return Buffer.concat([Buffer.from(`${out}content-length: ${body.length}\r\nconnection: close\r\n\r\n`), body])
}

const statusLine = (status: number): string => `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n`

/** An HTTP/1.1 response head for the raw client socket; `close` marks the end of a declined upgrade. */
function responseHead (status: number, text: string, headers: ResponseHeaderMap, close: boolean): string {
  let out = `HTTP/1.1 ${status} ${text.replace(/[\r\n]/g, '')}\r\n`
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue
    for (const one of Array.isArray(v) ? v : [v]) out += `${k}: ${one}\r\n`
  }
  return `${out}${close ? 'connection: close\r\n' : ''}\r\n`
}

/**
 * Module-level on purpose: a closure here would keep the handler's whole scope (the request, its
 * head buffer, the routing decision with the route of the snapshot it came from) alive for as
 * long as the tunnel stays open — ≈ 1.5 KiB per idle websocket, and routes of replaced snapshots.
 */
function destroyOnError (this: Duplex): void { this.destroy() }

export function tunnel (a: Duplex, b: Duplex, idleMs: number, count?: (delta: number) => void): void {
  count?.(1)
  let open = true
  const closeBoth = (): void => {
    if (open) { open = false; count?.(-1) }
    a.destroy(); b.destroy()
  }
  a.on('error', closeBoth); b.on('error', closeBoth)
  a.on('close', closeBoth); b.on('close', closeBoth)
  const setIdle = (s: Duplex): void => {
    const sock = s as Duplex & { setTimeout?: (ms: number, cb: () => void) => void }
    if (typeof sock.setTimeout === 'function' && idleMs > 0) sock.setTimeout(idleMs, closeBoth)
  }
  setIdle(a); setIdle(b)
  a.pipe(b); b.pipe(a)
}
