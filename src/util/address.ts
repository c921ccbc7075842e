/** "host:port", "[v6]:port" or ":port" → { host, port }. Returns undefined when malformed. */
export interface HostPort { host: string, port: number }

export function parseListenAddress (value: string): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(value)
  if (m === null) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  const host = m[1] ?? (m[2] === '' || m[2] === undefined ? '0.0.0.0' : m[2])
  return { host, port }
}
