import { readFile } from 'node:fs/promises'
import type { AcmeConfig } from '../config/index.js'
import { ChallengeBoard } from './challenge-board.js'
import { obtainCertificate, type OrderContext } from './order.js'
import { builtinProvider } from './providers/builtin.js'
import { cloudflareProvider } from './providers/cloudflare.js'
import { execProvider } from './providers/exec.js'
import { rfc2136Provider } from './providers/rfc2136.js'
import type { DnsProvider } from './providers/provider.js'
import { renewAt, retryAt } from './schedule.js'
import { emptyState, loadState, saveState, type StateFile } from './state-file.js'
import { readCertificate, writeCertificate, type StoredCertificate } from './store.js'
import { parseListenAddress } from '../util/address.js'
import { fetchRenewalWindow } from './ari.js'
import { directoryUrl } from './order.js'

export interface CertStatus {
  name: string
  domains: string[]
  notAfter: string | null
  daysLeft: number | null
  serial: string | null
  issuer: string | null
  nextRenewal: string | null
  failures: number
  lastError: string | null
}

export interface ManagerOptions {
  config: AcmeConfig
  stateDir: string
  board: ChallengeBoard
  log: { info: (o: object, m: string) => void, warn: (o: object, m: string) => void, error: (o: object, m: string) => void }
  /** Called after a certificate was written; the daemon rebuilds the snapshot (hot swap). */
  onIssued: (name: string) => Promise<void>
  now?: () => number
}

const MAX_SLEEP_MS = 3_600_000
const ARI_RECHECK_MS = 6 * 3_600_000

/**
 * Obtains and renews the configured certificates. One order at a time; a timer wakes at the
 * next due time (at most hourly, so clock jumps are caught). Failures back off (persisted) but
 * keep retrying while the current certificate is valid. The seam for multi-process setups:
 * only the process that owns a manager runs ACME.
 */
export class AcmeManager {
  readonly #o: ManagerOptions
  readonly #now: () => number
  #state: StateFile = {}
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> = Promise.resolve()
  #stopped = false
  #providers: Record<string, DnsProvider> = {}
  /** When each certificate's renewal info was last asked for (also when the CA has none). */
  readonly #ariChecked = new Map<string, { serial: string, nextCheck: number }>()

  /** Where live/<name>/ lives: the state dir, or certbot's /etc/letsencrypt to migrate in place. */
  get #storeDir (): string { return this.#o.config.store_dir ?? this.#o.stateDir }

  constructor (o: ManagerOptions) {
    this.#o = o
    this.#now = o.now ?? Date.now
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

  async current (name: string): Promise<StoredCertificate | undefined> {
    return await readCertificate(this.#storeDir, name).catch(() => undefined)
  }

  async status (): Promise<CertStatus[]> {
    return await Promise.all(this.#o.config.certificates.map(async c => {
      const stored = await this.current(c.name)
      const s = this.#state[c.name] ?? emptyState()
      const due = await this.#dueAt(c.name)
      return {
        name: c.name,
        domains: c.domains,
        notAfter: stored?.notAfter.toISOString() ?? null,
        daysLeft: stored === undefined ? null : Math.floor((stored.notAfter.getTime() - this.#now()) / 86_400_000),
        serial: stored?.serial ?? null,
        issuer: stored?.issuer ?? null,
        nextRenewal: new Date(due).toISOString(),
        failures: s.failures,
        lastError: s.lastError
      }
    }))
  }

  /** Renews one certificate now (queued behind a running order). */
  async renew (name: string, force: boolean): Promise<{ ok: boolean, error?: string, serial?: string }> {
    const cert = this.#o.config.certificates.find(c => c.name === name)
    if (cert === undefined) return { ok: false, error: `no ACME certificate named ${name}` }
    if (!force && (await this.#dueAt(name)) > this.#now()) return { ok: true, serial: (await this.current(name))?.serial }
    let result: { ok: boolean, error?: string, serial?: string } = { ok: false }
    this.#running = this.#running.then(async () => { result = await this.#issue(name) })
    await this.#running
    return result
  }

  async #dueAt (name: string): Promise<number> {
    const s = this.#state[name]
    if (s?.nextAttempt !== null && s?.nextAttempt !== undefined) return s.nextAttempt
    const stored = await this.current(name)
    if (stored === undefined) return this.#now()
    const ari = s?.ari
    if (ari !== undefined && ari.serial === stored.serial) return ari.renewAt
    return renewAt(stored.notBefore, stored.notAfter)
  }

  /** Refreshes the CA's suggested windows (ARI) where due; advisory, so errors are only logged. */
  async #refreshAri (): Promise<void> {
    const ca = this.#o.config.ca_file === undefined ? undefined : await readFile(this.#o.config.ca_file, 'utf8')
    for (const c of this.#o.config.certificates) {
      const stored = await this.current(c.name)
      const s = this.#state[c.name] ?? emptyState()
      const checked = this.#ariChecked.get(c.name)
      if (stored === undefined || (checked?.serial === stored.serial && checked.nextCheck > this.#now())) continue
      try {
        const pem = await readFile(stored.fullchainFile, 'utf8')
        const w = await fetchRenewalWindow(directoryUrl(this.#o.config.directory), pem, ca)
        const nextCheck = this.#now() + Math.max(60_000, w?.retryAfterMs ?? ARI_RECHECK_MS)
        // A random point in the window spreads a fleet's renewals, as RFC 9773 asks.
        this.#ariChecked.set(c.name, { serial: stored.serial, nextCheck })
        if (w === undefined) delete s.ari
        else s.ari = { serial: stored.serial, renewAt: w.start + Math.random() * (w.end - w.start), nextCheck }
        this.#state[c.name] = s
        if (w !== undefined) this.#o.log.info({ name: c.name, renew_at: new Date(s.ari!.renewAt).toISOString() }, 'acme: renewal window from the CA (ARI)')
      } catch (err) {
        this.#ariChecked.set(c.name, { serial: stored.serial, nextCheck: this.#now() + ARI_RECHECK_MS })
        this.#o.log.warn({ name: c.name, err: (err as Error).message }, 'acme: renewal info unavailable')
      }
    }
    await saveState(this.#o.stateDir, this.#state).catch(() => {})
  }

  #schedule (): void {
    if (this.#stopped) return
    clearTimeout(this.#timer)
    void (async () => {
      await this.#refreshAri()
      const dues = await Promise.all(this.#o.config.certificates.map(async c => [c.name, await this.#dueAt(c.name)] as const))
      const now = this.#now()
      const due = dues.filter(([, at]) => at <= now).map(([n]) => n)
      if (due.length > 0) {
        this.#running = this.#running.then(async () => { for (const n of due) if (!this.#stopped) await this.#issue(n) })
        await this.#running
        this.#schedule()
        return
      }
      const next = Math.min(...dues.map(([, at]) => at))
      this.#timer = setTimeout(() => this.#schedule(), Math.max(1000, Math.min(MAX_SLEEP_MS, next - now)))
      this.#timer.unref()
    })().catch(err => this.#o.log.error({ err: (err as Error).message }, 'acme scheduler error'))
  }

  async #issue (name: string): Promise<{ ok: boolean, error?: string, serial?: string }> {
    const cert = this.#o.config.certificates.find(c => c.name === name)!
    const s = this.#state[name] ?? emptyState()
    s.lastAttempt = this.#now()
    try {
      this.#o.log.info({ name, domains: cert.domains, challenge: cert.challenge, provider: cert.provider }, 'acme: ordering certificate')
      const ctx: OrderContext = { config: this.#o.config, stateDir: this.#o.stateDir, board: this.#o.board, providers: this.#providers, log: this.#o.log }
      const { fullchain, key } = await obtainCertificate(ctx, cert)
      const stored = await writeCertificate(this.#storeDir, name, fullchain, key)
      this.#state[name] = emptyState()
      this.#state[name].lastAttempt = s.lastAttempt
      // The certificate is stored: a state dir that cannot take the schedule must not hide it.
      await saveState(this.#o.stateDir, this.#state).catch(err => this.#o.log.warn({ name, err: (err as Error).message }, 'acme: could not persist the renewal state'))
      this.#o.log.info({ name, serial: stored.serial, not_after: stored.notAfter.toISOString() }, 'acme: certificate issued')
      await this.#o.onIssued(name)
      return { ok: true, serial: stored.serial }
    } catch (err) {
      const message = (err as Error).message
      s.failures++
      s.lastError = message
      const stored = await this.current(name)
      s.nextAttempt = retryAt(this.#now(), s.failures, this.#o.config.retry.min, this.#o.config.retry.max, stored?.notAfter.getTime(), retryAfterMs(err))
      this.#state[name] = s
      await saveState(this.#o.stateDir, this.#state).catch(() => {})
      this.#o.log.error({ name, err: message, failures: s.failures, next_attempt: new Date(s.nextAttempt).toISOString() }, 'acme: order failed; will retry')
      return { ok: false, error: message }
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

async function buildProviders (c: AcmeConfig, board: ChallengeBoard): Promise<Record<string, DnsProvider>> {
  const providers: Record<string, DnsProvider> = { builtin: builtinProvider(board) }
  if (c.cloudflare !== undefined) providers.cloudflare = cloudflareProvider((await readFile(c.cloudflare.token_file, 'utf8')).trim(), c.cloudflare.api_url)
  if (c.exec !== undefined) providers.exec = execProvider(c.exec.command)
  if (c.rfc2136 !== undefined) {
    const hp = parseListenAddress(c.rfc2136.server)!
    providers.rfc2136 = rfc2136Provider({
      host: hp.host,
      port: hp.port,
      zone: c.rfc2136.zone,
      keyName: c.rfc2136.key_name,
      algorithm: c.rfc2136.key_algorithm,
      secret: Buffer.from((await readFile(c.rfc2136.key_secret_file, 'utf8')).trim(), 'base64')
    })
  }
  return providers
}
