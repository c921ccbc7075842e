/**
 * Exosphere's User Application Proxy host label: `[(http|https)-]A-B-C-D-PORT.<domain>`
 * (see buildProxyUrl in Exosphere's src/Helpers/Url.elm). Octets 0-255 without leading zeros,
 * port 1-65535; the label is case-insensitive (hosts are lower-cased before matching).
 */
export interface UapTarget {
  scheme: 'http' | 'https'
  ip: string
  ipNumber: number
  port: number
}

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])'
const LABEL = new RegExp(`^(?:(https?)-)?${OCTET}-${OCTET}-${OCTET}-${OCTET}-([1-9][0-9]{0,4})$`)

/** Parses the label (the host minus `.<domain>`); undefined when it is not a valid UAP label. */
export function parseUapLabel (label: string, defaultScheme: 'http' | 'https'): UapTarget | undefined {
  const m = LABEL.exec(label)
  if (m === null) return undefined
  const port = Number(m[6])
  if (port > 65535) return undefined
  const a = Number(m[2]); const b = Number(m[3]); const c = Number(m[4]); const d = Number(m[5])
  return {
    scheme: (m[1] as 'http' | 'https' | undefined) ?? defaultScheme,
    ip: `${a}.${b}.${c}.${d}`,
    ipNumber: ((a * 256 + b) * 256 + c) * 256 + d,
    port
  }
}
