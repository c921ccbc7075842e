import type { Socket } from 'node:net'

/**
 * A socket's inactivity timeout set to `ms`, unless it already is: `setTimeout` allocates a new
 * Timeout and bound function each call, while a running one is restarted by every read and write
 * anyway (so "the same duration, restarted now" and "the same duration, restarted at the next
 * I/O, which follows at once" only differ by that one I/O).
 */
export function idleAfter (socket: Socket, ms: number): void {
  if (socket.timeout !== ms) socket.setTimeout(ms)
}
