import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseDocument } from 'yaml'

/**
 * The last config text that validated and was applied, kept in the state dir so a broken file
 * at the next start can fall back to it (loudly) instead of leaving the edge down.
 */
const NAME = 'last-good-config.yaml'

/** `name`: another copy kept the same way (the shared routes from etcd). */
export async function saveLastGood (stateDir: string, source: string, name = NAME): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 })
  const tmp = join(stateDir, `.${name}.${process.pid}.tmp`)
  await writeFile(tmp, source, { mode: 0o600 })
  await rename(tmp, join(stateDir, name))
}

export async function readLastGood (stateDir: string, name = NAME): Promise<string | undefined> {
  try {
    return await readFile(join(stateDir, name), 'utf8')
  } catch {
    return undefined
  }
}

/** Best effort: the state_dir of a file that may not validate, so its last-good copy can be found. */
export function stateDirHint (text: string): string | undefined {
  try {
    const value = parseDocument(text).get('state_dir')
    return typeof value === 'string' ? value : undefined
  } catch {
    return undefined
  }
}
