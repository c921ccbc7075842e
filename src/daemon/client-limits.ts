import type { Server as HttpServer } from 'node:http'
import type { Socket } from 'node:net'
import type { Config } from '../config/index.js'

export type Limits = Config['limits']

/** Constructor options of HTTP/1 servers (maxHeaderSize cannot change later: a change rebinds). */
export function httpServerOptions (l: Limits): { keepAliveTimeout: number, headersTimeout: number, requestTimeout: number, maxHeaderSize: number, connectionsCheckingInterval: number } {
  return {
    keepAliveTimeout: l.keepalive_timeout,
    headersTimeout: l.header_timeout,
    requestTimeout: l.request_timeout,
    maxHeaderSize: l.max_header_size,
    // Node enforces the two timeouts only when this sweep runs (default every 30 s).
    connectionsCheckingInterval: 1000
  }
}

/**
 * The limits Node reads from the server object at run time, so a reload applies them to bound
 * listeners. `maxHeadersCount` is one above the limit: Node silently drops headers past it,
 * the request handler answers 431 when it sees the extra one.
 */
export function applyLimits (server: HttpServer, l: Limits): void {
  server.keepAliveTimeout = l.keepalive_timeout
  server.headersTimeout = l.header_timeout
  server.requestTimeout = l.request_timeout
  server.maxHeadersCount = l.max_headers + 1
  server.maxConnections = l.max_connections ?? Number.POSITIVE_INFINITY
}

/** True when a request carries more header lines than allowed (rawHeaders is name, value, ...). */
export function tooManyHeaders (rawHeaders: readonly string[], l: Limits): boolean {
  return rawHeaders.length > 2 * l.max_headers
}

/** The canned answer to a request Node's parser refused (before any handler ran). */
export function clientErrorResponse (err: NodeJS.ErrnoException): string {
  const [status, text] = err.code === 'HPE_HEADER_OVERFLOW'
    ? [431, 'Request Header Fields Too Large']
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout']
      : unimplementedMethod(err) ? [501, 'Not Implemented'] : [400, 'Bad Request']
  return `HTTP/1.1 ${status} ${text}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`
}

const METHOD_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,20}$/

/**
 * RFC 9110 §9.1: a method that is a well-formed token but one portico does not know is a 501
 * (the engine answers the same); llhttp reports it like garbage, so the bytes before the first
 * space decide (a long or malformed one stays a 400).
 */
function unimplementedMethod (err: NodeJS.ErrnoException): boolean {
  const raw = (err as { rawPacket?: unknown }).rawPacket
  if (err.code !== 'HPE_INVALID_METHOD' || !Buffer.isBuffer(raw)) return false
  const sp = raw.indexOf(0x20)
  return sp > 0 && METHOD_TOKEN.test(raw.toString('latin1', 0, sp))
}

/**
 * Open connections per client address across all listeners; a connection over the limit is
 * destroyed on accept (no parsing, no response: the cheapest possible refusal).
 */
export class PerIpConnections {
  readonly #open = new Map<string, number>()

  admit (socket: Socket, limit: number | null): boolean {
    if (limit === null) return true
    const ip = socket.remoteAddress ?? ''
    const n = this.#open.get(ip) ?? 0
    if (n >= limit) { socket.destroy(); return false }
    this.#open.set(ip, n + 1)
    socket.once('close', () => {
      const left = (this.#open.get(ip) ?? 1) - 1
      if (left <= 0) this.#open.delete(ip); else this.#open.set(ip, left)
    })
    return true
  }
}
