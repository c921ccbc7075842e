import pino, { type Logger } from 'pino'

export type { Logger }

/**
 * JSON logs to stdout (journald and container runtimes collect them). The destination is
 * asynchronous so the request path never blocks on a slow log pipe; `flush` runs at exit.
 */
export function createLogger (level: string = 'info'): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 1, sync: false, minLength: 0 }))
}
