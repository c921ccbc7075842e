/** Validators and ranges for file responses (RFC 9110 §8.8, §13, §14), small enough to own. */

export interface FileFacts {
  size: number
  mtimeMs: number
}

/** A strong validator from size and mtime (like nginx's), so If-Range can use it. */
export function entityTag (f: FileFacts): string {
  return `"${Math.floor(f.mtimeMs).toString(16)}-${f.size.toString(16)}"`
}

/** HTTP dates have whole seconds: compare mtimes at that resolution. */
export function lastModified (f: FileFacts): string {
  return new Date(Math.floor(f.mtimeMs / 1000) * 1000).toUTCString()
}

/** True when the client's copy is current (answer 304): If-None-Match wins over If-Modified-Since. */
export function notModified (etag: string, f: FileFacts, ifNoneMatch: string | undefined, ifModifiedSince: string | undefined): boolean {
  if (ifNoneMatch !== undefined) return ifNoneMatch.trim() === '*' || listsTag(ifNoneMatch, etag, true)
  if (ifModifiedSince === undefined) return false
  const since = Date.parse(ifModifiedSince)
  return !Number.isNaN(since) && Math.floor(f.mtimeMs / 1000) * 1000 <= since
}

function listsTag (list: string, etag: string, weak: boolean): boolean {
  for (const part of list.split(',')) {
    let t = part.trim()
    if (weak && t.startsWith('W/')) t = t.slice(2)
    if (t === etag) return true
  }
  return false
}

export type RangeResult = { kind: 'full' } | { kind: 'partial', start: number, end: number } | { kind: 'unsatisfiable' }

/**
 * One byte range of a `Range` header. Multiple ranges, other units and malformed values are
 * answered with the whole file (which RFC 9110 allows); If-Range that does not match the
 * current validator does the same.
 */
export function byteRange (
  size: number, range: string | undefined, ifRange: string | undefined, etag: string, modified: string
): RangeResult {
  if (range === undefined) return { kind: 'full' }
  if (ifRange !== undefined) {
    const v = ifRange.trim()
    if (v.startsWith('"') || v.startsWith('W/') ? v !== etag : v !== modified) return { kind: 'full' }
  }
  const m = SINGLE_RANGE.exec(range)
  if (m === null) return { kind: 'full' }
  const [, first, last] = m as unknown as [string, string, string]
  if (first === '' && last === '') return { kind: 'full' }
  if (first === '') {
    const n = Number(last)
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' }
    return { kind: 'partial', start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(first)
  if (start >= size) return { kind: 'unsatisfiable' }
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
  if (end < start) return { kind: 'full' } // an invalid range-spec: the header is ignored
  return { kind: 'partial', start, end }
}

const SINGLE_RANGE = /^\s*bytes\s*=\s*(\d{0,15})\s*-\s*(\d{0,15})\s*$/i
