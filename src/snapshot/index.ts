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
  /** The pairs served for ACME certificates, by name: a store that turns bad keeps serving these. */
  readonly acmePairs?: ReadonlyMap<string, AcmePair>
  /** The same selection from contexts that also trust `ca` for client certificates. */
  withClientCa?: (ca: string) => { select (servername: string | undefined): SecureContext }
}

export interface AcmePair { cert: string, key: string, certFile: string, keyFile: string }

/**
 * Everything the request path reads, compiled from one config, the Docker name table and the
 * certificate store. Immutable: producers build a new one and swap it in.
 */
export interface Snapshot extends RouterView {
  readonly config: Config
  readonly tls: TlsSelector | undefined
  readonly names: NameTable
  /** PEM of each HTTP listener's `client_ca_file`, read with the snapshot: a reload swaps it for new handshakes. */
  readonly clientCas?: ReadonlyMap<string, string>
}

export class SnapshotStore {
  #current: Snapshot | undefined
  /** The first snapshot while its listeners are bound, before its swap (see `provisional`). */
  #first: Snapshot | undefined
  #listeners: Array<(next: Snapshot, previous: Snapshot | undefined) => void> = []

  get current (): Snapshot {
    const c = this.#current ?? this.#first
    if (c === undefined) throw new Error('no snapshot loaded yet')
    return c
  }

  /**
   * At start-up the listeners are bound before the first snapshot is swapped in (a reload binds new
   * listeners under the old one): a connection accepted in between is served from the snapshot being
   * committed, the only one there is. `loaded` stays false until the swap; `undefined` withdraws it
   * (the start failed). No effect once a snapshot was swapped in.
   */
  provisional (first: Snapshot | undefined): void {
    if (this.#current === undefined) this.#first = first
  }

  get loaded (): boolean { return this.#current !== undefined }

  /** Atomic: one assignment; requests that already read the old snapshot keep it. */
  swap (next: Snapshot): Snapshot | undefined {
    const previous = this.#current
    this.#current = next
    this.#first = undefined
    for (const l of this.#listeners) l(next, previous)
    return previous
  }

  /** Called after every swap (the Docker producer's connect tracker follows the name table). */
  onSwap (listener: (next: Snapshot, previous: Snapshot | undefined) => void): void {
    this.#listeners.push(listener)
  }
}
