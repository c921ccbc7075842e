import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { clientCertOf, clientIp, type RequestInfo } from '../router/index.js'
import type { RequestHeadParser } from './request-head.js'

/** A request head as the router's policy reads it, plus what forwarding needs of the raw head. */
export interface EngineRequestInfo extends RequestInfo {
  /** The head's fields as received: [name, value, ...] (latin1). */
  readonly raw: readonly string[]
  readonly chunked: boolean
}

/** Fields node:http keeps the first of when repeated (others it joins with ", "): the same answers on both paths. */
const FIRST_ONLY: ReadonlySet<string> = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since',
  'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent'
])

/** The parsed head's facts, copied out (the parser is reused for the next pipelined request). */
export function engineRequestInfo (h: RequestHeadParser, socket: Socket): EngineRequestInfo {
  const raw = h.headers
  const servername = (socket as TLSSocket).servername
  return {
    method: h.method,
    target: h.target,
    hostHeader: h.host,
    httpVersion: h.minor === 0 ? '1.0' : '1.1',
    peer: clientIp(socket),
    servername: typeof servername === 'string' ? servername : undefined,
    declaredLength: h.chunked ? 0 : Math.max(0, h.contentLength),
    clientCert: clientCertOf(socket),
    raw,
    chunked: h.chunked,
    header: name => {
      let out: string | undefined
      for (let i = 0; i < raw.length; i += 2) {
        const n = raw[i] as string
        if (n.length !== name.length || n.toLowerCase() !== name) continue
        if (out === undefined) out = raw[i + 1] as string
        else if (FIRST_ONLY.has(name)) break
        else out += `${name === 'cookie' ? '; ' : ', '}${raw[i + 1] as string}`
      }
      return out
    }
  }
}
