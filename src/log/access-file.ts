import pino, { type Logger } from 'pino'

/**
 * Access log lines in a file of their own (besides stdout/journald), reopened on SIGUSR1 so
 * logrotate can move the file away (`postrotate kill -USR1 …`), as with nginx. `write` takes
 * preformatted (combined/common) lines.
 */
export function createAccessFile (file: string): { log: Logger, write: (line: string) => void, reopen: () => void, close: () => void } {
  const dest = pino.destination({ dest: file, sync: false, mkdir: true, minLength: 0 })
  const log = pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime }, dest)
  return { log, write: line => { dest.write(line) }, reopen: () => dest.reopen(), close: () => { dest.flushSync(); dest.end() } }
}
