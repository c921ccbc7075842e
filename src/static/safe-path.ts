/**
 * The request path as a relative file path below the static root, or undefined for anything
 * that could name a file elsewhere: `..` or `.` segments (raw or percent-encoded), an encoded
 * `/` or `\` (`%2f`, `%5c`: a segment must not become two), a backslash, NUL or another control
 * byte, or malformed percent-encoding. Decoding happens exactly once, so `%252e%252e` stays the
 * literal name `%2e%2e` (inside root, normally absent). The caller still checks the real path
 * (symlinks) against the root.
 */
export function relativeFilePath (path: string): string[] | undefined {
  const segments: string[] = []
  // The leading '/' gives an empty first segment; empty segments (//) are skipped like nginx does.
  for (const raw of path.split('/')) {
    if (raw === '') continue
    if (ENCODED_SEPARATOR.test(raw)) return undefined
    let seg: string
    try { seg = decodeURIComponent(raw) } catch { return undefined }
    if (seg === '.' || seg === '..' || FORBIDDEN.test(seg)) return undefined
    segments.push(seg)
  }
  return segments
}

const ENCODED_SEPARATOR = /%2f|%5c/i
// Control bytes (NUL included), backslash and '/' (cannot appear after the split, but a decoded one would).
const FORBIDDEN = /[\u0000-\u001f\u007f\\/]/
