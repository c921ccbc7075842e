import type { SecureContext } from 'node:tls'
import type { Config } from '../config/index.js'
import type { RouterView } from '../router/index.js'
import type { NameTable } from '../dns/index.js'

/** What listeners need from TLS: pick a context by SNI name (wildcards, default fallback). */
export interface TlsSelector {
  select (servername: string | undefined): SecureContext
  /** PEMs of the default certificate, for clients that send no SNI. */
  readonly defaultCredentials: { cert: string, key: string }
  /** Certificate and key files in use, watched so renewals (certbot) are picked up. */
  readonly files: readonly string[]
  /** What is being served, for the status page and metrics. */
  readonly certificates: ReadonlyArray<{ names: string[], notAfter: string, certFile: string, issuer: string }>
}

/**
 * Everything the request path reads, compiled from one config, the Docker name table and the
 * certificate store. Immutable: producers build a new one and swap it in.
 */
export interface Snapshot extends RouterView {
  readonly config: Config
  readonly tls: TlsSelector | undefined
  readonly names: NameTable
}

export class SnapshotStore {
  #current: Snapshot | undefined

  get current (): Snapshot {
    if (this.#current === undefined) throw new Error('no snapshot loaded yet')
    return this.#current
  }

  get loaded (): boolean { return this.#current !== undefined }

  /** Atomic: one assignment; requests that already read the old snapshot keep it. */
  swap (next: Snapshot): Snapshot | undefined {
    const previous = this.#current
    this.#current = next
    return previous
  }
}
