import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { ConfigError, loadConfigFile, parseConfigText, readLastGood, stateDirHint, type LoadedConfig } from '../config/index.js'
import type { Logger } from '../log/logger.js'

/**
 * Startup config: the file if it validates; otherwise (unless strict) the last-known-good copy
 * from the state dir, with a loud warning. The state dir of a broken file comes from
 * --state-dir, else its (unvalidated) state_dir key, else the default.
 */
export async function loadStartupConfig (file: string, strict: boolean, stateDirFlag: string | undefined, log: Logger): Promise<LoadedConfig & { fallback: boolean }> {
  try {
    return { ...(await loadConfigFile(file)), fallback: false }
  } catch (err) {
    if (!(err instanceof ConfigError) || strict) throw err
    const text = await readFile(file, 'utf8').catch(() => '')
    const hint = stateDirFlag ?? stateDirHint(text) ?? '/var/lib/portico'
    const stateDir = resolve(stateDirFlag === undefined ? resolve(file, '..') : '.', hint)
    const saved = await readLastGood(stateDir)
    if (saved === undefined) throw err
    const config = parseConfigText(saved, file)
    log.warn({ errors: err.problems, state_dir: stateDir }, 'CONFIG FILE IS INVALID: serving the last-known-good config from the state dir; fix the file and reload')
    return { config, source: saved, file, fallback: true }
  }
}
