import type { ServerResponse } from 'node:http'

export type HeaderPairs = ReadonlyArray<readonly [string, string]>

/**
 * A response portico writes itself (fixed answers, redirects, errors, static files, auth
 * challenges), whatever carries it: node:http, the node:http2 compat API or the HTTP/1.1
 * engine. Answers are written once against this and every transport adapts to it, so a
 * feature cannot behave differently on HTTP/1.1, the engine and HTTP/2.
 */
export interface Reply {
  /** True once the head is out: a later failure can only abort the response. */
  readonly headSent: boolean
  /** Status and header fields (lower-case names); framing (length or chunked) is the transport's business. */
  head (status: number, headers: HeaderPairs): void
  /** False: wait for `onDrain` before writing more. */
  write (chunk: Buffer): boolean
  end (chunk?: Buffer): void
  onDrain (fn: () => void): void
  /** The client left (or the response was aborted) before `end`. */
  onClose (fn: () => void): void
  /** Aborts the response: never a truncated body that looks complete. */
  destroy (): void
}

/** A complete answer with a small in-memory body. */
export interface Answer {
  status: number
  headers: HeaderPairs
  body: Buffer | string
}

/** Writes a complete answer with its Content-Length (no body bytes for HEAD); returns the body bytes sent. */
export function sendAnswer (reply: Reply, a: Answer, method: string): number {
  const body = typeof a.body === 'string' ? Buffer.from(a.body) : a.body
  reply.head(a.status, [...a.headers, ['content-length', String(body.length)]])
  if (method === 'HEAD') { reply.end(); return 0 }
  reply.end(body)
  return body.length
}

/** The node:http / node:http2-compat adapter (h2 responses share this surface). */
export function nodeReply (res: ServerResponse): Reply {
  let started = false
  return {
    get headSent () { return started || res.headersSent },
    head (status, headers) {
      started = true
      res.statusCode = status
      const seen = new Set<string>()
      for (const [k, v] of headers) {
        // Repeated names (Set-Cookie, Vary lines) stay separate fields, as the engine writes them;
        // a field set before (an upstream head that failed half-way) is replaced.
        const prev = seen.has(k) ? res.getHeader(k) : undefined
        seen.add(k)
        res.setHeader(k, prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [String(prev), v])
      }
    },
    write: chunk => res.write(chunk),
    end (chunk) { if (chunk === undefined) res.end(); else res.end(chunk) },
    onDrain (fn) { res.once('drain', fn) },
    onClose (fn) { res.once('close', () => { if (!res.writableFinished) fn() }) },
    destroy () { res.destroy() }
  }
}
