/**
 * Byte classes of RFC 9110/9112 as 256-entry tables, so the parsers test one byte with one
 * array read and never allocate.
 */
function table (accept: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256)
  for (let c = 0; c < 256; c++) t[c] = accept(c) ? 1 : 0
  return t
}

const TCHAR_EXTRA = "!#$%&'*+-.^_`|~"

/** tchar (RFC 9110 §5.6.2): field names, methods, chunk-extension names. */
export const TOKEN = table(c => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || TCHAR_EXTRA.includes(String.fromCharCode(c)))

/** field-vchar plus SP and HTAB (RFC 9110 §5.5): VCHAR and obs-text; no other controls, no DEL. */
export const FIELD_VALUE = table(c => c === 0x09 || c === 0x20 || (c >= 0x21 && c <= 0x7e) || c >= 0x80)

/** request-target bytes: visible ASCII only (anything else must be percent-encoded). */
export const TARGET = table(c => c >= 0x21 && c <= 0x7e)

/** qdtext and quoted-pair payload bytes of a quoted-string (RFC 9110 §5.6.4), without the quote itself. */
export const QDTEXT = table(c => c === 0x09 || c === 0x20 || c === 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80)

/** Hex digit value, or 255. */
export const HEX = (() => {
  const t = new Uint8Array(256).fill(255)
  for (let c = 0; c < 10; c++) t[0x30 + c] = c
  for (let c = 0; c < 6; c++) { t[0x41 + c] = 10 + c; t[0x61 + c] = 10 + c }
  return t
})()

export const CR = 13
export const LF = 10
export const SP = 32
export const HTAB = 9
export const COLON = 58

/** `buf.latin1Slice(s, e)`: the fastest bytes → string copy Buffer has (no encoding lookup). */
export function latin1 (buf: Buffer, start: number, end: number): string {
  return (buf as Buffer & { latin1Slice: (s: number, e: number) => string }).latin1Slice(start, end)
}

/** ASCII case-insensitive compare of buf[start, start+lower.length) with an all-lower-case literal. */
export function bytesEqualLower (buf: Buffer, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false
  for (let i = 0; i < lower.length; i++) {
    if (((buf[start + i] as number) | 0x20) !== lower.charCodeAt(i)) return false
  }
  return true
}
