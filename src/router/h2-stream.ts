import type { ServerHttp2Stream } from 'node:http2'

/**
 * The HTTP/2 stream behind a compat request or response; undefined on HTTP/1. The one test for
 * "is this HTTP/2": an HTTP/1 request line may claim any version (`HTTP/2.0`).
 */
export function h2StreamOf (r: object): ServerHttp2Stream | undefined {
  return (r as { stream?: ServerHttp2Stream }).stream
}
