import type { EventEmitter } from 'node:events'

/**
 * Waits for a listen/bind callback, rejecting on the 'error' the emitter raises instead (a bind
 * failure never calls the callback). The one-shot error listener is removed once started.
 */
export async function started (emitter: EventEmitter, start: (done: () => void) => void): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    emitter.once('error', reject)
    start(() => { emitter.off('error', reject); resolve() })
  })
}
