/** Where log lines go: a pino destination, or anything with `write(line)`. */
export interface LineSink { write (line: string): unknown }

export type LogFormat = 'auto' | 'json' | 'console'

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
const SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname'])

/** `auto`: the console encoder on a terminal, JSON otherwise (journald, containers, files). */
export function resolveLogFormat (format: LogFormat, isTTY: boolean): 'json' | 'console' {
  return format === 'auto' ? (isTTY ? 'console' : 'json') : format
}

/**
 * Like Caddy's console encoder: pino's JSON lines turned into one readable line each,
 *   01:02:03.456 INFO  config reloaded reason="file changed" generation=3
 * with access entries as `GET host/path 200 512B 1.2ms route=…`. Lines that are not JSON (a
 * combined/common access line) pass unchanged.
 */
export function consoleSink (out: LineSink): LineSink {
  return {
    write (line: string) {
      if (!line.startsWith('{')) return out.write(line)
      let o: Record<string, unknown>
      try { o = JSON.parse(line) as Record<string, unknown> } catch { return out.write(line) }
      return out.write(consoleLine(o) + '\n')
    }
  }
}

export function consoleLine (o: Record<string, unknown>): string {
  const time = typeof o.time === 'string' ? o.time.slice(11, 23) : ''
  const level = (LEVELS[Number(o.level)] ?? String(o.level)).padEnd(5)
  const a = o.access as Record<string, unknown> | undefined
  const main = a === undefined
    ? String(o.msg ?? '')
    : `${String(a.method)} ${String(a.host ?? '-')}${String(a.path)} ${String(a.status)} ${String(a.bytes)}B ${String(a.ms)}ms`
  const rest = Object.entries(a === undefined ? o : a)
    .filter(([k, v]) => !SKIP.has(k) && v !== undefined && (a === undefined || !['method', 'host', 'path', 'status', 'bytes', 'ms'].includes(k)))
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/[\s"=]/.test(v) ? v : JSON.stringify(v)}`)
  return [time, level, main, ...rest].filter(s => s !== '').join(' ')
}
