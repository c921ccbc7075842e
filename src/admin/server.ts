import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { parseListenAddress } from '../util/address.js'
import { started } from '../util/started.js'
import type { Logger } from '../log/logger.js'
import { redact } from './redact.js'
import { formatDurations } from './durations.js'
import { refusal, type Guard } from './guard.js'

/** What the admin API shows and triggers; implemented by the daemon. */
export interface AdminBackend {
  ready (): Promise<{ ready: boolean, status: string, detail: Record<string, unknown> }>
  activeConfig (): unknown
  /** Docker name table: name → candidates, best first. */
  names (): unknown
  certificates (): Promise<unknown>
  metrics (): Promise<{ contentType: string, body: string }>
  statusPage (): Promise<string>
  renew (name: string, force: boolean, dryRun: boolean): Promise<{ ok: boolean, error?: string }>
  reload (): Promise<{ ok: boolean, generation?: number, errors?: string[] }>
}

/** What a config change may alter on a running admin listener (the address needs a new one). */
export interface AdminSettings {
  token: string | undefined
  /** Origins allowed to send state-changing requests (exact, e.g. `https://ops.example.org`). */
  allowedOrigins: readonly string[]
  /** Host header values accepted besides the listener's own address (e.g. a name behind a proxy). */
  allowedHosts: readonly string[]
}

export interface AdminListener {
  server: http.Server
  address: string
  configure (settings: AdminSettings): void
  close (): void
}

export const LOOPBACK = /^(127\.|::1$|localhost$)/

/**
 * Admin listener: health, readiness, metrics, status page, the active config (secrets
 * redacted), renew and reload. Loopback by default; any other bind address needs a bearer
 * token, or portico refuses to start. Browsers on the same host are kept out (guard.ts).
 */
export async function startAdmin (address: string, initial: AdminSettings, deps: { backend: AdminBackend, log: Logger }): Promise<AdminListener> {
  const hp = parseListenAddress(address)
  if (hp === undefined) throw new Error(`admin: bad address ${address}`)
  if (!LOOPBACK.test(hp.host) && initial.token === undefined) {
    throw new Error(`admin: refusing to listen on non-loopback ${address} without admin.token_file`)
  }
  let settings = initial
  let guard: Guard | undefined
  const server = http.createServer((req, res) => {
    guard ??= { port: (server.address() as AddressInfo).port, host: hp.host }
    void handle(req, res, settings, guard, deps.backend).catch((err: Error) => {
      const rid = randomBytes(6).toString('hex')
      deps.log.error({ err, rid, method: req.method, url: req.url }, 'admin request failed')
      if (!res.headersSent) json(res, 500, { error: 'internal error', rid })
      else res.destroy()
    })
  })
  await started(server, done => server.listen({ host: hp.host, port: hp.port }, done))
  return {
    server,
    address,
    configure: next => { settings = next },
    close: () => { server.close(); server.closeAllConnections() }
  }
}

const ENDPOINTS = ['GET /', 'GET /metrics', 'GET /healthz', 'GET /readyz', 'GET /config', 'GET /names', 'GET /certs', 'POST /renew?name=N[&force=1][&dry_run=1]', 'POST /reload']

async function handle (req: IncomingMessage, res: ServerResponse, settings: AdminSettings, guard: Guard, backend: AdminBackend): Promise<void> {
  const refused = refusal(req, settings, guard)
  if (refused !== undefined) return json(res, refused.status, { error: refused.error })
  if (settings.token !== undefined && !authorized(req.headers.authorization, settings.token)) return json(res, 401, { error: 'unauthorized' })
  const path = (req.url ?? '/').split('?')[0]
  const route = `${req.method ?? 'GET'} ${path ?? '/'}`
  switch (route) {
    case 'GET /': {
      const html = await backend.statusPage()
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html), 'cache-control': 'no-store' })
      res.end(html)
      return
    }
    case 'GET /metrics': {
      const m = await backend.metrics()
      res.writeHead(200, { 'content-type': m.contentType, 'content-length': Buffer.byteLength(m.body) })
      res.end(m.body)
      return
    }
    case 'GET /healthz': return json(res, 200, { status: 'ok' })
    case 'GET /readyz': {
      const r = await backend.ready()
      return json(res, r.ready ? 200 : 503, { status: r.status, ...r.detail })
    }
    case 'GET /config': return json(res, 200, formatDurations(redact(backend.activeConfig())))
    case 'GET /names': return json(res, 200, backend.names())
    case 'GET /certs': return json(res, 200, await backend.certificates())
    case 'POST /renew': {
      const q = new URLSearchParams((req.url ?? '').split('?')[1] ?? '')
      const result = await backend.renew(q.get('name') ?? '', q.get('force') === '1', q.get('dry_run') === '1')
      return json(res, result.ok ? 200 : 422, result)
    }
    case 'POST /reload': {
      const result = await backend.reload()
      return json(res, result.ok ? 200 : 422, result)
    }
    default: return json(res, 404, { error: 'not found', endpoints: ENDPOINTS })
  }
}

function authorized (header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.startsWith('Bearer ') === true ? header.slice(7) : '')
  const want = Buffer.from(token)
  return given.length === want.length && timingSafeEqual(given, want)
}

function json (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n'
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
  res.end(text)
}
