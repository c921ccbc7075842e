/**
 * Seeded generator of HTTP/1 request byte streams for the engine's differential fuzz: pipelines
 * of mostly well-formed requests (Content-Length and chunked bodies, extensions, trailers),
 * then field-level mutations known from request smuggling (duplicate or odd Content-Length,
 * Transfer-Encoding variants, obs-fold, whitespace before the colon, bare CR/LF) and byte-level
 * mutations, split into pieces at random offsets. Pure and deterministic per seed.
 */
export type Rng = () => number

/** mulberry32: small, fast, good enough to drive a fuzzer reproducibly. */
export function rng (seed: number): Rng {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const int = (r: Rng, n: number): number => Math.floor(r() * n)
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[int(r, xs.length)] as T
/** Mostly a common value, sometimes (probability `p`) an odd one. */
const mostly = <T>(r: Rng, common: readonly T[], odd: readonly T[], p = 0.04): T => pick(r, r() < p ? odd : common)

const METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH', 'M-SEARCH', 'PROPFIND']
const ODD_METHODS = ['CONNECT', 'FOO', 'get', 'PRI', 'GET\t', '']
const TARGETS = ['/', '/a/b?c=d', '/%2e%2e/x', '*', 'http://h.test/x', '//x', '/a#frag', '/?q="1"', '/{}|\\^`']
const ODD_TARGETS = ['/\u00e9', '/ x', 'h.test:443', '/a\tb', 'http:/x', '*x', '', 'x://', '/\u007f']
const VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0']
const ODD_VERSIONS = ['HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'http/1.1', 'HTTP/1.1 ', 'HTTP/11', 'HTTP/1.1\t', 'HTTP/1']
const NAMES = ['Accept', 'X-A', 'Cookie', 'User-Agent', 'x_y', 'A!#$%&\'*+-.^`|~', 'Origin', 'Upgrade', 'Expect', 'Via', 'Te', 'Trailer']
const VALUES = ['', 'a', 'text/html, */*', '  padded  ', 'a\tb', 'caf\u00e9', '"q"', 'x,y', '100-continue', 'websocket', 'h2c', '\u0001', '\u007f']
const TE = ['chunked', 'Chunked', 'CHUNKED', ' chunked', 'chunked ', 'gzip, chunked', 'chunked, gzip', 'chunked,', 'xchunked', 'chunked;q=1', 'identity', '"chunked"', 'chunked\u000b']
const CL_ODD = ['0', '00', '05', '+5', '-1', '5,5', '5, 5', ' 5 ', '5 5', '0x5', '1e2', '99999999999999999999', '', '5\u000b']
const CONN = ['close', 'keep-alive', 'Keep-Alive', 'upgrade', 'Upgrade, keep-alive', 'close, upgrade', 'foo, close', 'closed', 'te', 'x-a']
const CHUNK_EXT = ['', '', '', ';a', ';a=b', ';a="b c"', ';a="b\\"c"', ';a=', '; a', ';a =b', ' ;a', ';a;b=1', '\t', ' ', ';"x"', ';a="\u0001"']
const TRAILERS = ['', '', 'X-T: 1\r\n', 'X-T: 1\r\nX-U: v\r\n', 'Bad Name: x\r\n', ' fold\r\n', 'X-T:\u0001\r\n', 'X-T: 1\n']
const BYTES = [13, 10, 32, 9, 58, 44, 59, 34, 92, 48, 97, 0, 127, 128, 255, 0x0b, 0x0c]

function chunkedBody (r: Rng): string {
  let s = ''
  const n = int(r, 4)
  for (let i = 0; i < n; i++) {
    const len = 1 + int(r, 20)
    const sizeText = len.toString(16)
    s += `${r() < 0.1 ? sizeText.toUpperCase().padStart(4, '0') : sizeText}${pick(r, CHUNK_EXT)}\r\n${'d'.repeat(len)}\r\n`
  }
  return `${s}0${pick(r, CHUNK_EXT)}\r\n${pick(r, TRAILERS)}\r\n`
}

function message (r: Rng): string {
  const method = mostly(r, METHODS, ODD_METHODS)
  const lines: string[] = [`${method} ${mostly(r, TARGETS, ODD_TARGETS)} ${mostly(r, VERSIONS, ODD_VERSIONS)}`]
  if (r() < 0.9) lines.push(`Host: ${r() < 0.9 ? 'h.test' : pick(r, VALUES)}`)
  const extra = int(r, 4)
  for (let i = 0; i < extra; i++) lines.push(`${pick(r, NAMES)}: ${pick(r, VALUES)}`)
  if (r() < 0.25) lines.push(`Connection: ${pick(r, CONN)}`)
  let body = ''
  const kind = r()
  if (kind < 0.35) {
    const len = int(r, 12)
    lines.push(`Content-Length: ${len}`)
    body = 'b'.repeat(len)
  } else if (kind < 0.7) {
    lines.push(`Transfer-Encoding: ${r() < 0.7 ? 'chunked' : pick(r, TE)}`)
    body = chunkedBody(r)
  } else if (kind < 0.8) {
    lines.push(`Content-Length: ${pick(r, CL_ODD)}`)
    body = 'b'.repeat(int(r, 8))
  }
  fieldMutations(r, lines)
  const eol = r() < 0.03 ? '\n' : '\r\n'
  return lines.join(eol) + eol + eol + body
}

function fieldMutations (r: Rng, lines: string[]): void {
  if (r() > 0.2) return
  const at = 1 + int(r, lines.length)
  switch (int(r, 9)) {
    case 0: lines.splice(at, 0, `Content-Length: ${pick(r, CL_ODD)}`); break
    case 1: lines.splice(at, 0, `Transfer-Encoding: ${pick(r, TE)}`); break
    case 2: lines.splice(at, 0, ` ${pick(r, VALUES)}`); break // obs-fold
    case 3: lines.splice(at, 0, `${pick(r, NAMES)} : x`); break
    case 4: lines.splice(at, 0, `${pick(r, NAMES)}:x\ry`); break
    case 5: lines.splice(at, 0, `${pick(r, NAMES)}:x\ny`); break
    case 6: lines.splice(at, 0, 'Host: other.test'); break
    case 7: lines.splice(at, 0, 'Upgrade: websocket', 'Connection: upgrade'); break
    case 8: lines.splice(at, 0, `: empty-name`); break
  }
}

function byteMutations (r: Rng, b: Buffer): Buffer {
  if (r() > 0.2 || b.length === 0) return b
  const out = [...b]
  const n = 1 + int(r, 3)
  for (let i = 0; i < n; i++) {
    const at = int(r, out.length + 1)
    switch (int(r, 3)) {
      case 0: out.splice(at, 0, pick(r, BYTES)); break
      case 1: out.splice(at, 1); break
      case 2: out[at] = pick(r, BYTES); break
    }
  }
  return Buffer.from(out)
}

/** One case: the whole stream, and the same bytes cut into 1–5 pieces. */
export function requestStream (r: Rng): { bytes: Buffer, pieces: Buffer[] } {
  let text = r() < 0.05 ? '\r\n' : ''
  const n = 1 + int(r, 4)
  for (let i = 0; i < n; i++) text += message(r)
  if (r() < 0.1) text = text.slice(0, int(r, text.length))
  const bytes = byteMutations(r, Buffer.from(text, 'latin1'))
  const cuts = [...new Set(Array.from({ length: int(r, 5) }, () => int(r, bytes.length + 1)))].sort((a, b) => a - b)
  const pieces: Buffer[] = []
  let prev = 0
  for (const c of [...cuts, bytes.length]) {
    if (c > prev) pieces.push(bytes.subarray(prev, c))
    prev = c
  }
  return { bytes, pieces }
}
