import { Agent, request, type Dispatcher } from 'undici'
import { ownRefusal } from './refusal.js'
import { dropHeader } from './edits.js'
import type { Gate, GateRequest, Refusal, UpstreamEdits } from './types.js'

export interface ForwardAuthConfig {
  address: string
  timeout: number
  request_headers: string[]
  copy_headers: string[]
  deny_headers: string[]
}

/** A denial's body is relayed to the client; anything longer is the auth service misbehaving. */
const MAX_DENY_BODY = 64 * 1024
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

/**
 * `forward_auth` (nginx auth_request, Traefik ForwardAuth): a subrequest to the auth service
 * with the original method (no body), the listed client headers and X-Forwarded-Method/-Uri/
 * -Host/-Proto/-For. 2xx lets the request through with `copy_headers` taken from the auth
 * answer (the client's own values of those names are always dropped, so they cannot be
 * forged); any other status goes back to the client with its body and `deny_headers`. The
 * service down → 502, too slow → 504: never an open door.
 */
export function forwardAuthGate (c: ForwardAuthConfig): Gate {
  const copy = c.copy_headers.map(h => h.toLowerCase())
  const pass = c.request_headers.map(h => h.toLowerCase())
  const deny = c.deny_headers.map(h => h.toLowerCase())
  // Its own connection pool (created on first use, so `portico check` opens nothing).
  let agent: Agent | undefined
  const dispatcher = (): Dispatcher => (agent ??= new Agent({
    connect: { timeout: c.timeout }, headersTimeout: c.timeout, bodyTimeout: c.timeout, keepAliveTimeout: 4000
  }))
  return async (req, edits) => {
    let res: Dispatcher.ResponseData
    try {
      res = await ask(c, req, pass, dispatcher())
    } catch (err) {
      return unavailable(req, err)
    }
    const status = res.statusCode
    if (status >= 200 && status < 300) {
      await res.body.dump()
      copyHeaders(res.headers, copy, edits)
      return undefined
    }
    let body: Buffer
    try { body = await readLimited(res.body, MAX_DENY_BODY) } catch (err) { return unavailable(req, err) }
    const headers: Array<[string, string]> = []
    for (const name of deny) {
      const v = res.headers[name]
      for (const one of v === undefined ? [] : Array.isArray(v) ? v : [v]) headers.push([name, one])
    }
    headers.push(['x-request-id', req.requestId])
    return { answer: { status, headers, body }, reason: `forward_auth answered ${status}` }
  }
}

/** A kept-alive connection the auth service closed just then is retried once on a fresh one (there is no body to repeat). */
const STALE_CONNECTION = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE'])

async function ask (c: ForwardAuthConfig, req: GateRequest, pass: readonly string[], dispatcher: Dispatcher): Promise<Dispatcher.ResponseData> {
  const signal = AbortSignal.timeout(c.timeout)
  const once = async (): Promise<Dispatcher.ResponseData> => await request(c.address, {
    method: req.method as Dispatcher.HttpMethod, headers: authRequestHeaders(req, pass), dispatcher, signal
  })
  try {
    return await once()
  } catch (err) {
    if (!STALE_CONNECTION.has((err as NodeJS.ErrnoException).code ?? '') || signal.aborted) throw err
    return await once()
  }
}

function authRequestHeaders (req: GateRequest, pass: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of pass) {
    const v = req.header(name)
    if (v !== undefined) out[name] = v
  }
  out['x-forwarded-method'] = req.method
  out['x-forwarded-uri'] = req.url
  out['x-forwarded-host'] = req.host ?? ''
  out['x-forwarded-proto'] = req.proto
  out['x-forwarded-for'] = req.clientIp
  out['x-request-id'] = req.requestId
  return out
}

function copyHeaders (from: Record<string, string | string[] | undefined>, names: readonly string[], edits: UpstreamEdits): void {
  for (const name of names) {
    dropHeader(edits, name)
    const v = from[name]
    for (const one of v === undefined ? [] : Array.isArray(v) ? v : [v]) edits.add.push([name, one])
  }
}

function unavailable (req: GateRequest, err: unknown): Refusal {
  const e = err as NodeJS.ErrnoException
  const timedOut = e.name === 'TimeoutError' || TIMEOUT_CODES.has(e.code ?? '')
  return timedOut
    ? ownRefusal(req, 504, 'auth service timed out')
    : ownRefusal(req, 502, `auth service unreachable (${e.code ?? e.message})`)
}

async function readLimited (body: AsyncIterable<Buffer> & { destroy: () => void }, max: number): Promise<Buffer> {
  const parts: Buffer[] = []
  let n = 0
  for await (const chunk of body) {
    n += chunk.length
    if (n > max) { body.destroy(); throw new Error('auth service answer too large') }
    parts.push(chunk)
  }
  return Buffer.concat(parts)
}
