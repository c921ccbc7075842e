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

let writes = 0

/** Temp + rename; a temp name per write, so concurrent saves (orders of several names) never share one. */
export async function writePrivate (file: string, data: string): Promise<void> {
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
