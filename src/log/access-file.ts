import pino, { type Logger } from 'pino'

/**
 * Access log lines in a file of their own (besides stdout/journald), reopened on SIGUSR1 so
 * logrotate can move the file away (`postrotate kill -USR1 …`), as with nginx.
 */
export function createAccessFile (file: string): { log: Logger, reopen: () => void, close: () => void } {
  const dest = pino.destination({ dest: file, sync: false, mkdir: true, minLength: 0 })
  const log = pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime }, dest)
  return { log, reopen: () => dest.reopen(), close: () => { dest.flushSync(); dest.end() } }
}
