import type { IncomingMessage } from 'node:http'
import { Transform } from 'node:stream'
import { isIP } from 'node:net'
import type { Dispatcher } from 'undici'
import { clientResponseHeaders, type ResponseHeaderMap } from './headers.js'
import { h2StreamOf } from './h2-stream.js'
import type { AnyResponse } from './error-response.js'
import { NO_SNI } from './dispatchers.js'
import { failureReason, failureStatus, NOT_CONNECTED, retryBudget, retryStep, spend, type RetryBudget } from './retry.js'
import type { HeaderPairs, Reply } from './reply.js'
import type { UpstreamPool } from './upstream-pool.js'
import { attemptOn } from './pool-request.js'

/** HTTP/1 and HTTP/2-compat requests share this surface; h2 ones are cast at the listener. */
export type AnyRequest = IncomingMessage

/** What a finished forward reports to the access log / error page. */
export interface ForwardOutcome {
  status: number
  upstream: string
  /** Set when portico must answer itself (no response headers were sent yet). */
  error?: { status: 413 | 502 | 504, reason: string }
  /** Set when the response was cut after its headers went out: the client sees an aborted response. */
  aborted?: string
  /** An exception of portico's own on the response path (a bug): logged at error level. */
  fault?: Error
  bytesOut: number
  /** Request body bytes read, for bodies without Content-Length (chunked, HTTP/2); else undefined. */
  bytesIn?: number
  /** The upstream's status and milliseconds until its response headers (when it answered). */
  upstreamStatus?: number
  upstreamMs?: number
}

export interface ForwardRequest {
  req: AnyRequest
  res: AnyResponse
  origins: readonly string[]
  method: string
  path: string
  headers: string[]
  dispatcher: Dispatcher
  /** TLS server name (SNI and verification) for https origins; default: the origin's host name, none for IPs. */
  serverName: string | undefined
  /** Bodies without Content-Length are cut off (413) past this many bytes. */
  maxBodySize: number | null
  /** How many further candidates one request may move on to (the route's `retries`). */
  retries: number
  /** Response headers to drop (on top of hop-by-hop), e.g. upstream CORS headers. */
  dropResponseHeaders?: ReadonlySet<string>
  /** Called once response headers are known, to adjust them (route edits, cookie scoping, CORS). */
  editResponseHeaders?: ((headers: ResponseHeaderMap, origin: string) => void) | undefined
  /** The pool the origins come from: each attempt is counted in flight on its member (least_conn). */
  pool?: UpstreamPool | undefined
  onUpstreamDown?: ((origin: string) => void) | undefined
  /** Writes the response through this Reply (compression, upstream error pages) instead of `res` directly. */
  reply?: Reply | undefined
  done: (outcome: ForwardOutcome) => void
}

/**
 * Streams one request to an upstream through undici's low-level dispatch API: no body is
 * buffered, and backpressure flows both ways (a slow client pauses the upstream read; undici
 * pulls the request body only as fast as the upstream socket drains).
 */
export function forward (f: ForwardRequest): void {
  // A body without Content-Length is metered on its way (the log's byte count, the size limit).
  const hasBody = requestHasBody(f.req)
  const meter = hasBody && f.req.headers['content-length'] === undefined ? new BodyMeter(f.maxBodySize) : undefined
  const body = meter !== undefined ? f.req.pipe(meter) : hasBody ? f.req : null
  const attempt = (i: number, budget: RetryBudget): void => {
    const origin = f.origins[i] as string
    const endAttempt = attemptOn(f.pool, origin)
    let controllerRef: Dispatcher.DispatchController | undefined
    /** The upstream sent something (an interim or the final head): repeating is no longer safe. */
    let answered = false
    let bytesOut = 0
    const sentAt = performance.now()
    let upstream: { upstreamStatus: number, upstreamMs: number } | undefined
    let finished = false
    let fault: Error | undefined
    const onClientGone = (): void => {
      if (!finished) controllerRef?.abort(clientLeft())
    }
    const finish = (outcome: ForwardOutcome): void => {
      if (finished) return
      finished = true
      endAttempt()
      f.res.off('close', onClientGone)
      if (meter !== undefined) outcome.bytesIn = meter.seen
      if (fault !== undefined) outcome.fault = fault
      f.done(outcome)
    }
    /** Our own exception while relaying: stop the upstream request; onResponseError answers. */
    const failInside = (controller: Dispatcher.DispatchController, err: unknown): void => {
      fault ??= err instanceof Error ? err : new Error(String(err))
      controller.abort(Object.assign(new Error(`internal error: ${fault.message}`), { code: INTERNAL }))
    }
    // The client may be gone already (an h2 stream reset in the same packet, a browser that
    // closed during the CCP's DNS lookup): its 'close' has fired, so nobody would abort.
    if (clientGone(f.res)) {
      finish({ status: CLIENT_CLOSED, upstream: origin, bytesOut })
      return
    }
    f.res.once('close', onClientGone)
    const options: Dispatcher.DispatchOptions & { servername: string } = {
      origin,
      path: f.path,
      method: f.method as Dispatcher.HttpMethod,
      headers: f.headers,
      body,
      upgrade: null,
      servername: upstreamServerName(f.serverName, origin)
    }
    f.dispatcher.dispatch(options, {
      onRequestStart (controller) {
        controllerRef = controller
        // Queued in the pool while the client left: its 'close' found no controller to abort.
        if (clientGone(f.res)) controller.abort(clientLeft())
      },
      onResponseStart (controller, statusCode, headers) {
        answered = true
        if (statusCode >= 200) upstream = { upstreamStatus: statusCode, upstreamMs: Math.round((performance.now() - sentAt) * 1000) / 1000 }
        if (clientGone(f.res)) { controller.abort(clientLeft()); return }
        try {
          if (statusCode < 200) { relayInterim(f.res, statusCode, headers); return }
          const out = clientResponseHeaders(headers, f.dropResponseHeaders)
          f.editResponseHeaders?.(out, origin)
          if (f.reply !== undefined) f.reply.head(statusCode, headerPairs(out))
          else f.res.writeHead(statusCode, out as Record<string, string | string[]>)
        } catch (err) {
          failInside(controller, err)
        }
      },
      onResponseData (controller, chunk) {
        bytesOut += chunk.length
        try {
          if (!(f.reply?.write(chunk) ?? f.res.write(chunk))) {
            // A destroyed response never drains: pausing would hold the upstream request forever.
            if (clientGone(f.res)) { controller.abort(clientLeft()); return }
            controller.pause()
            if (f.reply !== undefined) f.reply.onDrain(() => controller.resume())
            else f.res.once('drain', () => controller.resume())
          }
        } catch (err) {
          failInside(controller, err)
        }
      },
      onResponseEnd () {
        if (f.reply !== undefined) f.reply.end()
        else f.res.end()
        finish({ status: f.res.statusCode, upstream: origin, bytesOut, ...upstream })
      },
      onResponseError (_controller, err) {
        const code = (err as NodeJS.ErrnoException).code ?? ''
        if (!answered && NOT_CONNECTED.has(code)) f.onUpstreamDown?.(origin)
        const step = answered || f.res.destroyed ? undefined : retryStep(code, f.method, body, budget, i + 1 < f.origins.length)
        if (step !== undefined) {
          finished = true
          endAttempt()
          f.res.off('close', onClientGone)
          attempt(step === 'same-origin' ? i : i + 1, spend(budget, step))
          return
        }
        const reason = describe(code, err)
        // A Reply may hold its head until the first body bytes: it, not `res`, knows whether it started.
        if (f.res.headersSent || f.reply?.headSent === true) {
          // Headers are gone; the only honest signal left is an aborted response.
          f.reply?.destroy()
          f.res.destroy(err)
          finish({ status: f.res.statusCode, upstream: origin, bytesOut, aborted: reason, ...upstream })
          return
        }
        const status = code === BODY_TOO_LARGE ? 413 : failureStatus(code)
        finish({ status, upstream: origin, bytesOut, error: { status, reason } })
      }
    })
  }
  attempt(0, retryBudget(f.retries))
}

function headerPairs (headers: ResponseHeaderMap): HeaderPairs {
  const out: Array<[string, string]> = []
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue
    if (Array.isArray(v)) for (const x of v) out.push([k, x])
    else out.push([k, v])
  }
  return out
}

/**
 * 1xx before the final answer: 103 Early Hints reach HTTP/1.1 and HTTP/2 clients through Node's
 * writeEarlyHints; any other interim response is dropped (Node answers 100 Continue itself).
 */
function relayInterim (res: AnyResponse, status: number, headers: ResponseHeaderMap): void {
  const link = headers.link
  if (status !== 103 || link === undefined || typeof res.writeEarlyHints !== 'function') return
  try { res.writeEarlyHints({ link }) } catch {} // a hint Node refuses is only a lost hint
}

/**
 * The TLS server name for one request: the configured one, else the origin's host name, else
 * (IP literals) none at all, verified against the IP. Always explicit: undici would otherwise
 * take it from the (preserved) Host header.
 */
export function upstreamServerName (configured: string | undefined, origin: string): string {
  if (configured !== undefined && configured !== '') return configured
  const start = origin.indexOf('://') + 3
  if (origin.charCodeAt(start) === 91 /* [ */) return NO_SNI
  const end = origin.indexOf(':', start)
  const host = origin.slice(start, end < 0 ? undefined : end)
  return isIP(host) === 0 ? host : NO_SNI
}

const BODY_TOO_LARGE = 'PORTICO_BODY_TOO_LARGE'
const INTERNAL = 'PORTICO_INTERNAL'
const clientLeft = (): Error => new Error('client closed the connection')
/** nginx's "client closed request": logged, never sent. */
const CLIENT_CLOSED = 499

/** HTTP/1 responses say so themselves; HTTP/2 compat responses only through their stream. */
function clientGone (res: AnyResponse): boolean {
  const stream = h2StreamOf(res)
  return res.destroyed || (res as { closed?: boolean }).closed === true || stream?.destroyed === true || stream?.closed === true
}

/** Counts streamed (chunked / h2) request bytes and fails the upload past the limit, if any. */
class BodyMeter extends Transform {
  seen = 0
  readonly #max: number | null
  constructor (max: number | null) { super(); this.#max = max }
  override _transform (chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.seen += chunk.length
    if (this.#max === null || this.seen <= this.#max) cb(null, chunk)
    else cb(Object.assign(new Error(`request body larger than ${this.#max} bytes`), { code: BODY_TOO_LARGE }))
  }
}

function requestHasBody (req: AnyRequest): boolean {
  const stream = h2StreamOf(req)
  if (stream !== undefined) return !stream.endAfterHeaders
  const h = req.headers
  return h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0')
}

function describe (code: string, err: Error): string {
  return code === BODY_TOO_LARGE || code === INTERNAL ? err.message : failureReason(code, err)
}
