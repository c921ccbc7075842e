import pino, { type Logger } from 'pino'
import { consoleSink, resolveLogFormat, type LineSink, type LogFormat } from './console.js'

export type { Logger, LogFormat }

/**
 * Logs to stdout: JSON lines (journald and container runtimes collect them), or the console
 * encoder on a terminal. The JSON destination is asynchronous so the request path never blocks
 * on a slow log pipe; `flush` runs at exit.
 */
export function createLogger (level: string = 'info', format: LogFormat = 'json', isTTY = process.stdout.isTTY === true): Logger {
  const json = pino.destination({ dest: 1, sync: false, minLength: 0 })
  const dest = resolveLogFormat(format, isTTY) === 'console' ? consoleSink(process.stdout) : json
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest as pino.DestinationStream)
}

/** The logger's own destination, for lines that are not pino records (combined/common access lines). */
export function sinkOf (log: Logger): LineSink {
  return (log as unknown as Record<symbol, LineSink>)[pino.symbols.streamSym]!
}
