import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** Per-certificate renewal state, persisted so backoff and the drawn renewal time survive restarts. */
export interface CertState {
  failures: number
  nextAttempt: number | null
  lastError: string | null
  lastAttempt: number | null
  /** The CA's renewal window (ARI) for the current certificate, with the time picked in it. */
  ari?: { serial: string, renewAt: number, nextCheck: number }
  /** The renewal time drawn once (with its jitter) for the current certificate. */
  renewAt?: { serial: string, at: number }
}

export type StateFile = Record<string, CertState>

export const emptyState = (): CertState => ({ failures: 0, nextAttempt: null, lastError: null, lastAttempt: null })

const fileOf = (stateDir: string): string => join(stateDir, 'acme', 'state.json')

export async function loadState (stateDir: string): Promise<StateFile> {
  try {
    return JSON.parse(await readFile(fileOf(stateDir), 'utf8')) as StateFile
  } catch {
    return {}
  }
}

export async function saveState (stateDir: string, state: StateFile): Promise<void> {
  await writePrivate(fileOf(stateDir), JSON.stringify(state, null, 2))
}

/**
 * An issued certificate not yet in the store (the store failed, or the order finished after its
 * deadline): kept so the next attempt installs it instead of ordering again.
 */
export interface PendingCertificate { fullchain: string, key: string }

const pendingFile = (stateDir: string, name: string): string => join(stateDir, 'acme', 'pending', `${name}.json`)

export async function loadPending (stateDir: string, name: string): Promise<PendingCertificate | undefined> {
  try {
    return JSON.parse(await readFile(pendingFile(stateDir, name), 'utf8')) as PendingCertificate
  } catch {
    return undefined
  }
}

export async function savePending (stateDir: string, name: string, p: PendingCertificate): Promise<void> {
  await writePrivate(pendingFile(stateDir, name), JSON.stringify(p))
}

export async function dropPending (stateDir: string, name: string): Promise<void> {
  await rm(pendingFile(stateDir, name), { force: true })
}

let writes = 0

/** Temp + rename; a temp name per write, so concurrent saves (orders of several names) never share one. */
async function writePrivate (file: string, data: string): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.${++writes}.tmp`
  try {
    await writeFile(tmp, data, { mode: 0o600 })
    await rename(tmp, file)
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {})
    throw err
  }
}
