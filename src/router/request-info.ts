import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { clientIp } from './client-address.js'
import { h2StreamOf } from './h2-stream.js'
import { clientCertOf, type ClientCert } from './client-cert.js'

/**
 * What the edge policy reads of a request, whatever carried it (node:http, the node:http2 compat
 * API, the HTTP/1.1 engine): plain facts, never a transport's objects, so one policy serves all.
 */
export interface RequestInfo {
  readonly method: string
  /** The request target as received. */
  readonly target: string
  /** The Host field (or :authority); undefined when missing or repeated (decide() answers 400). */
  readonly hostHeader: string | undefined
  /** `1.1`, `1.0`, `2.0`. */
  readonly httpVersion: string
  /** The connection's peer address. */
  readonly peer: string
  /** The TLS server name the client sent (TLS listeners), else undefined. */
  readonly servername: string | undefined
  /** The declared Content-Length, 0 without one. */
  readonly declaredLength: number
  /** The client certificate of the connection (listeners with `client_ca_file`). */
  readonly clientCert?: ClientCert | undefined
  /** The first value of a field (lower-case name). */
  header (name: string): string | undefined
}

/** The node:http / node:http2-compat request as RequestInfo. */
export function nodeRequestInfo (req: IncomingMessage): RequestInfo {
  const servername = (req.socket as TLSSocket | undefined)?.servername
  return {
    method: req.method ?? 'GET',
    target: req.url ?? '/',
    hostHeader: h2StreamOf(req) === undefined ? singleHost(req.rawHeaders) : authority(req),
    httpVersion: req.httpVersion,
    peer: clientIp(req.socket),
    servername: typeof servername === 'string' ? servername : undefined,
    declaredLength: Number(req.headers['content-length'] ?? 0) || 0,
    clientCert: clientCertOf(req.socket),
    header: name => {
      const v = req.headers[name]
      // Node joins repeated fields itself, except list-valued ones (h2 cookie crumbs among them).
      return Array.isArray(v) ? v.join(name === 'cookie' ? '; ' : ', ') : v
    }
  }
}

const authority = (req: IncomingMessage): string | undefined => req.headers[':authority'] as string | undefined ?? req.headers.host

/** RFC 9112 §3.2: the Host header's value, or undefined when it is missing or repeated. */
export function singleHost (raw: readonly string[]): string | undefined {
  let host: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue
    if (host !== undefined) return undefined
    host = raw[i + 1] as string
  }
  return host
}
