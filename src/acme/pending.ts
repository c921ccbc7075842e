import { X509Certificate } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { IssuedPair } from './order.js'
import { verify } from './store.js'
import { writePrivate } from './state-file.js'

/**
 * Issued certificates not yet in the store (the store failed, or the order finished after its
 * deadline), in memory and in `state_dir/acme/pending/<name>.json` (0600): the next attempt
 * installs one instead of ordering again. A state dir that cannot take it keeps it in memory.
 */
export class PendingCertificates {
  readonly #stateDir: string
  readonly #memory = new Map<string, IssuedPair>()

  constructor (stateDir: string) { this.#stateDir = stateDir }

  #file (name: string): string { return join(this.#stateDir, 'acme', 'pending', `${name}.json`) }

  async keep (name: string, pair: IssuedPair): Promise<void> {
    this.#memory.set(name, pair)
    await writePrivate(this.#file(name), JSON.stringify(pair)).catch(() => {})
  }

  async drop (name: string): Promise<void> {
    this.#memory.delete(name)
    await rm(this.#file(name), { force: true }).catch(() => {})
  }

  /**
   * The kept certificate for `name` if it is still worth installing: it verifies, covers the
   * configured domains, has more than half its lifetime left and is newer than `storedNotAfter`.
   * Anything else is dropped.
   */
  async usable (name: string, domains: readonly string[], storedNotAfter: number, now: number): Promise<IssuedPair | undefined> {
    const pair = this.#memory.get(name) ?? await readFile(this.#file(name), 'utf8').then(s => JSON.parse(s) as IssuedPair, () => undefined)
    if (pair === undefined) return undefined
    try {
      const info = verify(name, pair.fullchain, pair.key)
      const sans = new Set(new X509Certificate(pair.fullchain).subjectAltName?.split(', ').map(s => s.replace(/^DNS:/, '')))
      const fresh = info.notAfter.getTime() - now > (info.notAfter.getTime() - info.notBefore.getTime()) / 2
      if (fresh && info.notAfter.getTime() > storedNotAfter && domains.every(d => sans.has(d))) return pair
    } catch {
      // not usable: dropped below
    }
    await this.drop(name)
    return undefined
  }
}
