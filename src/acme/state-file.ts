import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** Per-certificate renewal state, persisted so backoff survives restarts. */
export interface CertState {
  failures: number
  nextAttempt: number | null
  lastError: string | null
  lastAttempt: number | null
  /** The CA's renewal window (ARI) for the current certificate, with the time picked in it. */
  ari?: { serial: string, renewAt: number, nextCheck: number }
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
  const file = fileOf(stateDir)
  await mkdir(join(stateDir, 'acme'), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, JSON.stringify(state, null, 2), { mode: 0o600 })
  await rename(tmp, file)
}
