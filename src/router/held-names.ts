import type { RouterView } from './view.js'

/** How long a request for a Docker name waits for the registry's resync before its 503. */
export const HOLD_MS = 5000
const POLL_MS = 20

/**
 * Resolves once the current snapshot's name table is no longer held (dockerd came back and the
 * registry resynced), or after `maxMs`. Polls the view: a held table lasts a resync (well under
 * a second normally), and only requests for `docker` routes wait here.
 */
export async function namesConfirmed (view: () => RouterView, maxMs = HOLD_MS): Promise<void> {
  const deadline = Date.now() + maxMs
  while (view().names?.held === true && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, POLL_MS))
}
