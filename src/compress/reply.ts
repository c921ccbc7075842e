import type { HeaderPairs, Reply } from '../router/reply.js'
import { createEncoder } from './encoder.js'
import { chooseEncoding, type Encoding } from './negotiate.js'
import type { CompressSettings } from './settings.js'

/** What the request says about compression: its method and Accept-Encoding. */
export interface CompressRequest { method: string, acceptEncoding: string | undefined }

/**
 * A Reply that compresses into an inner Reply, so every transport (node:http, HTTP/2, the
 * engine) gets the same behaviour. The decision is taken at `head`: only listed types, only
 * bodies of at least `min_size` (or of unknown size), never HEAD, 1xx/204/206/304, a response that
 * is encoded already, a range, or `Cache-Control: no-transform`. A compressible type always gets
 * `Vary: Accept-Encoding` (the answer depends on it even when this client got identity). When compressing, Content-Length
 * is dropped (the transport frames the body) and a strong ETag becomes weak (the bytes differ).
 * Backpressure passes through: the encoder pauses while the inner reply is full, and `write`
 * returns false while the encoder's input is full.
 */
export function compressingReply (inner: Reply, s: CompressSettings, req: CompressRequest): Reply {
  let encoder: ReturnType<typeof createEncoder> | undefined
  return {
    get headSent () { return inner.headSent },
    head (status, headers) {
      const d = decide(status, headers, s, req)
      if (d === undefined) { inner.head(status, headers); return }
      if (d.encoding === undefined) { inner.head(status, withVary(headers)); return }
      const enc = createEncoder(d.encoding, s, d.length)
      encoder = enc
      enc.on('data', (chunk: Buffer) => {
        if (!inner.write(chunk)) { enc.pause(); inner.onDrain(() => enc.resume()) }
      })
      enc.once('end', () => inner.end())
      enc.once('error', () => inner.destroy())
      inner.onClose(() => enc.destroy())
      inner.head(status, encodedHeaders(headers, d.encoding))
    },
    write (chunk) { return encoder === undefined ? inner.write(chunk) : encoder.write(chunk) },
    end (chunk) {
      if (encoder === undefined) { inner.end(chunk); return }
      if (chunk === undefined) encoder.end(); else encoder.end(chunk)
    },
    onDrain (fn) { if (encoder === undefined) inner.onDrain(fn); else encoder.once('drain', fn) },
    onClose (fn) { inner.onClose(fn) },
    destroy () { encoder?.destroy(); inner.destroy() }
  }
}

const NO_BODY = new Set([204, 206, 304])
const NO_TRANSFORM = /(^|[\s,])no-transform\b/i
const VARIES = /(^|,)\s*(accept-encoding|\*)\s*(,|$)/i

/** undefined: not a candidate at all (no Vary); encoding undefined: candidate, but identity for this request. */
type Verdict = { encoding: Encoding | undefined, length: number | undefined } | undefined

function decide (status: number, headers: HeaderPairs, s: CompressSettings, req: CompressRequest): Verdict {
  if (status < 200 || NO_BODY.has(status)) return undefined
  let type: string | undefined
  let length: number | undefined
  for (const [k, v] of headers) {
    if (k === 'content-encoding' || k === 'content-range') return undefined
    if (k === 'content-type') type = v
    else if (k === 'content-length') length = Number(v)
    // RFC 9111 §5.2.2.6: no-transform forbids changing the coding on the way.
    else if (k === 'cache-control' && NO_TRANSFORM.test(v)) return undefined
  }
  if (type === undefined) return undefined
  const semi = type.indexOf(';')
  if (!s.types.has((semi < 0 ? type : type.slice(0, semi)).trim().toLowerCase())) return undefined
  if (length !== undefined && length < s.minSize) return undefined
  if (req.method === 'HEAD') return { encoding: undefined, length }
  return { encoding: chooseEncoding(req.acceptEncoding, s.encodings), length }
}

function withVary (headers: HeaderPairs): HeaderPairs {
  const vary = headers.find(([k]) => k === 'vary')
  if (vary === undefined) return [...headers, ['vary', 'Accept-Encoding']]
  if (VARIES.test(vary[1])) return headers
  return headers.map(([k, v]) => k === 'vary' && v === vary[1] ? [k, `${v}, Accept-Encoding`] as const : [k, v] as const)
}

function encodedHeaders (headers: HeaderPairs, encoding: string): HeaderPairs {
  const out: Array<readonly [string, string]> = []
  for (const [k, v] of withVary(headers)) {
    if (k === 'content-length' || k === 'accept-ranges') continue
    out.push(k === 'etag' && !v.startsWith('W/') ? [k, `W/${v}`] : [k, v])
  }
  out.push(['content-encoding', encoding])
  return out
}
