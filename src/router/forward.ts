import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { Transform } from 'node:stream'
import { isIP } from 'node:net'
import type { Dispatcher } from 'undici'
import { clientResponseHeaders } from './headers.js'
import { h2StreamOf } from './h2-stream.js'
import type { AnyResponse } from './error-response.js'

/** HTTP/1 and HTTP/2-compat requests share this surface; h2 ones are cast at the listener. */
export type AnyRequest = IncomingMessage

/** What a finished forward reports to the access log / error page. */
export interface ForwardOutcome {
  status: number
  upstream: string
  /** Set when portico must answer itself (no response headers were sent yet). */
  error?: { status: 413 | 502 | 504, reason: string }
  bytesOut: number
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
  /** Response headers to drop (on top of hop-by-hop), e.g. upstream CORS headers. */
  dropResponseHeaders?: ReadonlySet<string>
  /** Called once response headers are known, to adjust them (cookie scoping, HSTS...). */
  editResponseHeaders?: (headers: IncomingHttpHeaders) => void
  onUpstreamDown?: (origin: string) => void
  done: (outcome: ForwardOutcome) => void
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT'])
/** Errors where the upstream never saw the request, so trying the next one is always safe. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'])
/** The connection broke before any response: safe to repeat only for idempotent, bodiless requests. */
const BROKEN = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'])
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

/**
 * Streams one request to an upstream through undici's low-level dispatch API: no body is
 * buffered, and backpressure flows both ways (a slow client pauses the upstream read; undici
 * pulls the request body only as fast as the upstream socket drains).
 */
export function forward (f: ForwardRequest): void {
  const hasBody = requestHasBody(f.req)
  const body = !hasBody ? null : f.maxBodySize !== null && f.req.headers['content-length'] === undefined ? f.req.pipe(bodyLimit(f.maxBodySize)) : f.req
  const attempt = (i: number): void => {
    const origin = f.origins[i] as string
    let controllerRef: Dispatcher.DispatchController | undefined
    let started = false
    let bytesOut = 0
    const sentAt = performance.now()
    let upstream: { upstreamStatus: number, upstreamMs: number } | undefined
    let finished = false
    const onClientGone = (): void => {
      if (!finished) controllerRef?.abort(clientLeft())
    }
    const finish = (outcome: ForwardOutcome): void => {
      if (finished) return
      finished = true
      f.res.off('close', onClientGone)
      f.done(outcome)
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
      // Without this undici would take the SNI/verification name from the (preserved) Host header.
      servername: f.serverName ?? originServerName(origin)
    }
    f.dispatcher.dispatch(options, {
      onRequestStart (controller) {
        controllerRef = controller
        // Queued in the pool while the client left: its 'close' found no controller to abort.
        if (clientGone(f.res)) controller.abort(clientLeft())
      },
      onResponseStart (controller, statusCode, headers) {
        started = true
        upstream = { upstreamStatus: statusCode, upstreamMs: Math.round((performance.now() - sentAt) * 1000) / 1000 }
        if (clientGone(f.res)) { controller.abort(clientLeft()); return }
        const out = clientResponseHeaders(headers, f.dropResponseHeaders)
        f.editResponseHeaders?.(out)
        try {
          f.res.writeHead(statusCode, out as Record<string, string | string[]>)
        } catch (err) {
          controller.abort(err as Error)
        }
      },
      onResponseData (controller, chunk) {
        bytesOut += chunk.length
        if (!f.res.write(chunk)) {
          // A destroyed response never drains: pausing would hold the upstream request forever.
          if (clientGone(f.res)) { controller.abort(clientLeft()); return }
          controller.pause()
          f.res.once('drain', () => controller.resume())
        }
      },
      onResponseEnd () {
        f.res.end()
        finish({ status: f.res.statusCode, upstream: origin, bytesOut, ...upstream })
      },
      onResponseError (_controller, err) {
        const code = (err as NodeJS.ErrnoException).code ?? ''
        if (!started && NOT_CONNECTED.has(code)) f.onUpstreamDown?.(origin)
        const retryable = NOT_CONNECTED.has(code) || (BROKEN.has(code) && IDEMPOTENT.has(f.method))
        if (!started && retryable && !hasBody && i + 1 < f.origins.length && !f.res.destroyed) {
          finished = true
          f.res.off('close', onClientGone)
          attempt(i + 1)
          return
        }
        if (started) {
          // Headers are gone; the only honest signal left is an aborted response.
          f.res.destroy(err)
          finish({ status: f.res.statusCode, upstream: origin, bytesOut, ...upstream })
          return
        }
        const status = code === BODY_TOO_LARGE ? 413 : TIMEOUT_CODES.has(code) ? 504 : 502
        finish({ status, upstream: origin, bytesOut, error: { status, reason: describe(code, err) } })
      }
    })
  }
  attempt(0)
}

/** Host name of `scheme://host:port`, or '' for IP literals (no SNI; verified against the IP). */
export function originServerName (origin: string): string {
  const start = origin.indexOf('://') + 3
  if (origin.charCodeAt(start) === 91 /* [ */) return ''
  const end = origin.indexOf(':', start)
  const host = origin.slice(start, end < 0 ? undefined : end)
  return isIP(host) === 0 ? host : ''
}

const BODY_TOO_LARGE = 'PORTICO_BODY_TOO_LARGE'
const clientLeft = (): Error => new Error('client closed the connection')
/** nginx's "client closed request": logged, never sent. */
const CLIENT_CLOSED = 499

/** HTTP/1 responses say so themselves; HTTP/2 compat responses only through their stream. */
function clientGone (res: AnyResponse): boolean {
  const stream = h2StreamOf(res)
  return res.destroyed || (res as { closed?: boolean }).closed === true || stream?.destroyed === true || stream?.closed === true
}

/** Counts streamed (chunked / h2) request bytes and fails the upload past the limit. */
function bodyLimit (max: number): Transform {
  let seen = 0
  return new Transform({
    transform (chunk: Buffer, _enc, cb) {
      seen += chunk.length
      if (seen > max) cb(Object.assign(new Error(`request body larger than ${max} bytes`), { code: BODY_TOO_LARGE }))
      else cb(null, chunk)
    }
  })
}

function requestHasBody (req: AnyRequest): boolean {
  const stream = h2StreamOf(req)
  if (stream !== undefined) return !stream.endAfterHeaders
  const h = req.headers
  return h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0')
}

function describe (code: string, err: Error): string {
  switch (code) {
    case BODY_TOO_LARGE: return err.message
    case 'ECONNREFUSED': return 'upstream refused the connection'
    case 'UND_ERR_CONNECT_TIMEOUT': return 'timed out connecting to the upstream'
    case 'UND_ERR_HEADERS_TIMEOUT': return 'upstream did not send response headers in time'
    case 'ECONNRESET': case 'UND_ERR_SOCKET': return 'upstream closed the connection'
    case 'EHOSTUNREACH': case 'ENETUNREACH': return 'upstream is unreachable'
    default: return code === '' ? `upstream error: ${err.message}` : `upstream error (${code})`
  }
}
