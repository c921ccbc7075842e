import { readFile } from 'node:fs/promises'
import type { AcmeConfig } from '../config/index.js'
import { ChallengeBoard } from './challenge-board.js'
import { obtainCertificate, directoryUrl, stagingDirectory, type OrderContext, type IssuedPair } from './order.js'
import { buildProviders } from './providers/index.js'
import type { DnsProvider } from './providers/provider.js'
import { plannedRenewal, retryAt } from './schedule.js'
import { emptyState, loadState, saveState, type CertState, type StateFile } from './state-file.js'
import { PendingCertificates } from './pending.js'
import { probeStore, readServable, verify, writeCertificate, type StoredCertificate } from './store.js'
import { fetchRenewalWindow } from './ari.js'
import { withDeadline } from './deadline.js'
import type { SharedStore } from './shared.js'

export interface CertStatus {
  name: string
  domains: string[]
  notAfter: string | null
  daysLeft: number | null
  serial: string | null
  issuer: string | null
  nextRenewal: string | null
  /** True while nextRenewal is a retry after a failure (backoff), not the planned renewal. */
  retrying: boolean
  failures: number
  lastError: string | null
  lastAttempt: string | null
  /** Orders since the process started, by outcome (failures include store and deadline errors). */
  orders: { ok: number, failed: number }
  /** Set when the live pair in the store is refused and an older version is served instead. */
  storeProblem: string | null
}

export interface RenewResult { ok: boolean, error?: string, serial?: string, skipped?: boolean, dryRun?: boolean, directory?: string }

export interface ManagerOptions {
  config: AcmeConfig
  stateDir: string
  board: ChallengeBoard
  log: { info: (o: object, m: string) => void, warn: (o: object, m: string) => void, error: (o: object, m: string) => void }
  /** Called after a certificate was written; the daemon rebuilds the snapshot (hot swap). */
  onIssued: (name: string) => Promise<void>
  now?: () => number
  /** The cluster's certificate store (`cluster` configured): one order per name cluster-wide. */
  shared?: SharedStore
}

const MAX_SLEEP_MS = 3_600_000
const ARI_RECHECK_MS = 6 * 3_600_000

/**
 * Obtains and renews the configured certificates. One queue per name: a stalled order delays only
 * its own name, and every order has a deadline (then backs off like any failure). A timer wakes at
 * the earliest due time or retry of any name (at most hourly, so clock jumps are caught); a queued
 * renewal re-checks whether it is still due. Failures back off (persisted) but keep retrying while
 * the current certificate is valid. An issued certificate the store could not take is kept and
 * installed by the next attempt instead of ordering again. Only the process that owns a manager
 * runs ACME.
 */
export class AcmeManager {
  readonly #o: ManagerOptions
  readonly #now: () => number
  #state: StateFile = {}
  #timer: NodeJS.Timeout | undefined
  readonly #queues = new Map<string, Promise<unknown>>()
  readonly #pending: PendingCertificates
  readonly #orders = new Map<string, { ok: number, failed: number }>()
  #stopped = false
  #ariRunning = false
  #providers: Record<string, DnsProvider> = {}
  /** When each certificate's renewal info was last asked for (also when the CA has none). */
  readonly #ariChecked = new Map<string, { serial: string, nextCheck: number }>()

  /** Where live/<name>/ lives: the state dir, or certbot's /etc/letsencrypt to migrate in place. */
  get #storeDir (): string { return this.#o.config.store_dir ?? this.#o.stateDir }

  constructor (o: ManagerOptions) {
    this.#o = o
    this.#now = o.now ?? Date.now
    this.#pending = new PendingCertificates(o.stateDir)
  }

  async start (): Promise<void> {
    this.#state = await loadState(this.#o.stateDir)
    this.#providers = await buildProviders(this.#o.config, this.#o.board)
    this.#schedule()
  }

  stop (): void {
    this.#stopped = true
    clearTimeout(this.#timer)
  }

  /** Re-checks due times now (e.g. the store changed under us: a broken pair is re-issued). */
  wake (): void { this.#schedule() }

  async current (name: string): Promise<StoredCertificate | undefined> {
    return (await this.#servable(name)).stored
  }

  async #servable (name: string): Promise<{ stored: StoredCertificate | undefined, problem?: string }> {
    return await readServable(this.#storeDir, name).catch((err: Error) => ({ stored: undefined, problem: err.message }))
  }

  async status (): Promise<CertStatus[]> {
    return await Promise.all(this.#o.config.certificates.map(async c => {
      const { stored, problem } = await this.#servable(c.name)
      const s = this.#state[c.name] ?? emptyState()
      return {
        name: c.name,
        domains: c.domains,
        notAfter: stored?.notAfter.toISOString() ?? null,
        daysLeft: stored === undefined ? null : Math.floor((stored.notAfter.getTime() - this.#now()) / 86_400_000),
        serial: stored?.serial ?? null,
        issuer: stored?.issuer ?? null,
        nextRenewal: new Date(await this.#dueAt(c.name)).toISOString(),
        retrying: s.nextAttempt !== null,
        failures: s.failures,
        lastError: s.lastError,
        lastAttempt: s.lastAttempt === null ? null : new Date(s.lastAttempt).toISOString(),
        orders: this.#orders.get(c.name) ?? { ok: 0, failed: 0 },
        storeProblem: problem ?? null
      }
    }))
  }

  /** Renews one certificate now (queued behind a running order of the same name). */
  async renew (name: string, force: boolean, dryRun = false): Promise<RenewResult> {
    const cert = this.#o.config.certificates.find(c => c.name === name)
    if (cert === undefined) return { ok: false, error: `no ACME certificate named ${name}` }
    if (dryRun) return await this.#dryRun(name)
    const result = await this.#enqueue(name, async () => await this.#attempt(name, force))
    this.#schedule()
    return result
  }

  async #enqueue<T> (name: string, job: () => Promise<T>): Promise<T> {
    // The scheduler skips names with a queued job and relies on the job's end to look again: so the
    // last job of a name leaves the queue and reschedules itself, whoever queued it (a renewal, a
    // certificate installed from the cluster). Otherwise no timer might be set again, ever.
    const run = (this.#queues.get(name) ?? Promise.resolve()).then(job).finally(() => {
      if (this.#queues.get(name) !== settled) return
      this.#queues.delete(name)
      this.#schedule()
    })
    const settled: Promise<unknown> = run.catch(() => {})
    this.#queues.set(name, settled)
    return await run
  }

  /** A queued attempt first re-checks due-ness: the renewal may have happened while it waited. */
  async #attempt (name: string, force: boolean): Promise<RenewResult> {
    if (this.#stopped) return { ok: false, error: 'shutting down' }
    if (!force && (await this.#dueAt(name)) > this.#now()) return { ok: true, skipped: true, serial: (await this.current(name))?.serial }
    return await this.#issue(name, force)
  }

  async #dueAt (name: string): Promise<number> {
    const s = this.#state[name] ?? emptyState()
    if (s.nextAttempt !== null) return s.nextAttempt
    const { stored, problem } = await this.#servable(name)
    // A broken live pair keeps serving from memory, but a restart would lose it: re-issue now.
    if (stored === undefined || problem !== undefined) return this.#now()
    const planned = plannedRenewal(s, stored)
    if (s.renewAt?.serial !== stored.serial && s.ari?.serial !== stored.serial) {
      // Drawn once per certificate and persisted: every reader and every wake sees the same time.
      s.renewAt = { serial: stored.serial, at: planned }
      this.#state[name] = s
      await this.#save(name)
    }
    return planned
  }

  async #save (name: string): Promise<void> {
    await saveState(this.#o.stateDir, this.#state).catch(err => this.#o.log.warn({ name, err: (err as Error).message }, 'acme: could not persist the renewal state'))
    const s = this.#state[name]
    if (this.#o.shared !== undefined && s !== undefined) {
      await this.#o.shared.saveState(name, s).catch(err => this.#o.log.warn({ name, err: (err as Error).message }, 'acme: could not share the renewal state'))
    }
  }

  /**
   * A certificate another instance stored in the cluster: installed here (store, then the
   * daemon's hot swap) unless it is the one already served or older than it.
   */
  async adopt (name: string, pair: IssuedPair): Promise<boolean> {
    if (this.#stopped || !this.#o.config.certificates.some(c => c.name === name)) return false
    // Behind a running attempt of the same name (this instance's own order echoed back: a no-op then).
    return await this.#enqueue(name, async () => await this.#install(name, pair))
  }

  async #install (name: string, pair: IssuedPair): Promise<boolean> {
    if (this.#stopped) return false
    const info = verify(name, pair.fullchain, pair.key)
    const current = await this.current(name)
    if (current !== undefined && (current.serial === info.serial || current.notAfter.getTime() > info.notAfter.getTime())) return false
    const stored = await writeCertificate(this.#storeDir, name, pair.fullchain, pair.key)
    this.#state[name] = { ...emptyState(), lastAttempt: this.#state[name]?.lastAttempt ?? null }
    this.#o.log.info({ name, serial: stored.serial, not_after: stored.notAfter.toISOString() }, 'acme: certificate from the cluster installed')
    await this.#o.onIssued(name)
    this.#schedule()
    return true
  }

  /** Renewal state another instance shared (its backoff after a failed order holds here too). */
  adoptState (name: string, state: CertState): void {
    if (this.#stopped || !this.#o.config.certificates.some(c => c.name === name)) return
    this.#state[name] = state
    this.#schedule()
  }

  /** Refreshes the CA's suggested windows (ARI) where due; advisory, so errors are only logged. */
  async #refreshAri (): Promise<boolean> {
    const ca = this.#o.config.ca_file === undefined ? undefined : await readFile(this.#o.config.ca_file, 'utf8')
    let changed = false
    for (const c of this.#o.config.certificates) {
      const stored = await this.current(c.name)
      const s = this.#state[c.name] ?? emptyState()
      const checked = this.#ariChecked.get(c.name)
      if (stored === undefined || (checked?.serial === stored.serial && checked.nextCheck > this.#now())) continue
      try {
        const w = await fetchRenewalWindow(directoryUrl(this.#o.config.directory), stored.fullchain, ca, this.#o.config.request_timeout)
        const nextCheck = this.#now() + Math.max(60_000, w?.retryAfterMs ?? ARI_RECHECK_MS)
        // A random point in the window spreads a fleet's renewals, as RFC 9773 asks.
        this.#ariChecked.set(c.name, { serial: stored.serial, nextCheck })
        if (w === undefined) delete s.ari
        else s.ari = { serial: stored.serial, renewAt: w.start + Math.random() * (w.end - w.start), nextCheck }
        this.#state[c.name] = s
        changed ||= w !== undefined
        if (w !== undefined) this.#o.log.info({ name: c.name, renew_at: new Date(s.ari!.renewAt).toISOString() }, 'acme: renewal window from the CA (ARI)')
      } catch (err) {
        this.#ariChecked.set(c.name, { serial: stored.serial, nextCheck: this.#now() + ARI_RECHECK_MS })
        this.#o.log.warn({ name: c.name, err: (err as Error).message }, 'acme: renewal info unavailable')
      }
    }
    if (changed) await this.#save('(ari)')
    return changed
  }

  /** ARI in the background: a slow or stalled CA must not hold up the renewals themselves. */
  #startAriRefresh (): void {
    if (this.#ariRunning || this.#stopped) return
    this.#ariRunning = true
    void this.#refreshAri().then(changed => { if (changed) this.#schedule() }, () => {}).finally(() => { this.#ariRunning = false })
  }

  #schedule (): void {
    if (this.#stopped) return
    clearTimeout(this.#timer)
    this.#startAriRefresh()
    void (async () => {
      const idle = this.#o.config.certificates.filter(c => !this.#queues.has(c.name))
      const dues = await Promise.all(idle.map(async c => [c.name, await this.#dueAt(c.name)] as const))
      if (this.#stopped) return
      const now = this.#now()
      for (const [name, at] of dues) {
        if (at > now || this.#queues.has(name)) continue
        void this.#enqueue(name, async () => await this.#attempt(name, false)).catch(() => {})
      }
      const later = dues.filter(([name, at]) => at > now && !this.#queues.has(name)).map(([, at]) => at)
      if (later.length === 0) return // every name has an order running; each one reschedules when it ends
      clearTimeout(this.#timer)
      this.#timer = setTimeout(() => this.#schedule(), Math.max(1000, Math.min(MAX_SLEEP_MS, Math.min(...later) - now)))
      this.#timer.unref()
    })().catch(err => this.#o.log.error({ err: (err as Error).message }, 'acme scheduler error'))
  }

  #context (config = this.#o.config): OrderContext {
    return { config, stateDir: this.#o.stateDir, board: this.#o.board, providers: this.#providers, log: this.#o.log }
  }

  /**
   * An order with the configured deadline, after which the attempt fails and backs off like any
   * other. The abandoned order cannot be cancelled (acme-client); if it still succeeds, its
   * certificate is kept and installed at once, unless a newer one was stored meanwhile.
   */
  async #order (name: string): Promise<IssuedPair> {
    const cert = this.#o.config.certificates.find(c => c.name === name)!
    const order = obtainCertificate(this.#context(), cert)
    return await withDeadline(order, this.#o.config.order_timeout, `order for ${name}`, () => {
      void order.then(async pair => {
        this.#o.log.warn({ name }, 'acme: an order finished after its deadline; installing it now')
        await this.#pending.keep(name, pair)
        // The attempt that gave up on it backs off; the certificate is here now: install it at once.
        const s = this.#state[name]
        if (s?.nextAttempt != null) s.nextAttempt = this.#now()
        this.#schedule()
      }, () => {})
    })
  }

  /** The certificate to install: one kept from an earlier attempt, else a new order. */
  async #obtain (name: string): Promise<IssuedPair> {
    const cert = this.#o.config.certificates.find(c => c.name === name)!
    const kept = await this.#pending.usable(name, cert.domains, (await this.current(name))?.notAfter.getTime() ?? 0, this.#now())
    if (kept !== undefined) {
      this.#o.log.info({ name }, 'acme: installing the certificate issued by an earlier attempt (no new order)')
      return kept
    }
    // A store that cannot take the certificate would waste one order per retry (CA rate limits).
    await probeStore(this.#storeDir, name)
    this.#o.log.info({ name, domains: cert.domains, challenge: cert.challenge, provider: cert.provider }, 'acme: ordering certificate')
    const pair = await this.#order(name)
    await this.#pending.keep(name, pair)
    return pair
  }

  /**
   * The cluster way: under the name's lock, first take what another instance stored meanwhile
   * (it may have renewed while this attempt waited), then order and share the result through a
   * fenced write. Another instance ordering now: no order here; its certificate (or its failure
   * state) arrives through the cluster, and this attempt looks again after retry.min.
   */
  async #obtainShared (name: string, shared: SharedStore, force: boolean): Promise<IssuedPair | undefined> {
    const r = await shared.underLock(name, async store => {
      const there = await shared.fetch(name)
      if (there !== undefined) await this.#install(name, there)
      if (!force && (await this.#dueAt(name)) > this.#now()) return undefined
      const pair = await this.#obtain(name)
      if (!(await store(pair))) throw new Error('the cluster lock was lost while ordering (lease expired): the certificate is kept for the next attempt, not shared')
      return pair
    })
    if ('value' in r) return r.value
    this.#o.log.info({ name, holder: r.holder }, 'acme: another instance is ordering this certificate; waiting for it')
    const s = this.#state[name] ?? emptyState()
    this.#state[name] = { ...s, nextAttempt: this.#now() + this.#o.config.retry.min }
    return undefined
  }

  async #issue (name: string, force = false): Promise<RenewResult> {
    const s = this.#state[name] ?? emptyState()
    s.lastAttempt = this.#now()
    const counts = this.#orders.get(name) ?? { ok: 0, failed: 0 }
    this.#orders.set(name, counts)
    try {
      const pair = this.#o.shared === undefined ? await this.#obtain(name) : await this.#obtainShared(name, this.#o.shared, force)
      if (pair === undefined) return { ok: true, skipped: true, serial: (await this.current(name))?.serial }
      const stored = await writeCertificate(this.#storeDir, name, pair.fullchain, pair.key)
      await this.#pending.drop(name)
      this.#state[name] = { ...emptyState(), lastAttempt: s.lastAttempt }
      counts.ok++
      // The certificate is stored: a state dir that cannot take the schedule must not hide it.
      await this.#dueAt(name)
      await this.#save(name)
      this.#o.log.info({ name, serial: stored.serial, version: stored.version, not_after: stored.notAfter.toISOString() }, 'acme: certificate issued')
      await this.#o.onIssued(name)
      return { ok: true, serial: stored.serial }
    } catch (err) {
      const message = (err as Error).message
      counts.failed++
      s.failures++
      s.lastError = message
      const stored = await this.current(name)
      const { min, max } = this.#o.config.retry
      s.nextAttempt = retryAt(this.#now(), s.failures, min, max, stored?.notAfter.getTime(), retryAfterMs(err))
      this.#state[name] = s
      await this.#save(name)
      const next = new Date(s.nextAttempt).toISOString()
      this.#o.log.error({ name, err: message, failures: s.failures, next_attempt: next }, 'acme: order failed; will retry')
      return { ok: false, error: message }
    }
  }

  /** `renew --dry-run`: a full order against the staging directory; nothing stored or swapped. */
  async #dryRun (name: string): Promise<RenewResult> {
    const directory = stagingDirectory(this.#o.config)
    if (directory === undefined) {
      return { ok: false, dryRun: true, error: 'a dry run needs acme.staging_directory (a directory URL other than the production CA)' }
    }
    const cert = this.#o.config.certificates.find(c => c.name === name)!
    this.#o.log.info({ name, directory }, 'acme: dry run against the staging directory')
    try {
      const order = obtainCertificate(this.#context({ ...this.#o.config, directory }), cert)
      const pair = await withDeadline(order, this.#o.config.order_timeout, `dry-run order for ${name}`)
      const info = verify(name, pair.fullchain, pair.key)
      this.#o.log.info({ name, directory, serial: info.serial }, 'acme: dry run succeeded; nothing stored')
      return { ok: true, dryRun: true, directory: directoryUrl(directory), serial: info.serial }
    } catch (err) {
      this.#o.log.warn({ name, directory, err: (err as Error).message }, 'acme: dry run failed')
      return { ok: false, dryRun: true, directory: directoryUrl(directory), error: (err as Error).message }
    }
  }
}

/** Rate-limit answers carry Retry-After; acme-client surfaces it on some errors. */
function retryAfterMs (err: unknown): number | undefined {
  const header = (err as { response?: { headers?: Record<string, string> } }).response?.headers?.['retry-after']
  if (header === undefined) return undefined
  const seconds = Number(header)
  return Number.isFinite(seconds) ? seconds * 1000 : Math.max(0, Date.parse(header) - Date.now())
}
