import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { ConfigError, formatProblem, loadConfigFile, parseConfigText, readLastGood, stateDirHint, type LoadedConfig } from '../config/index.js'
import type { Logger } from '../log/logger.js'

/**
 * Startup config: the file if it validates. An invalid file refuses the start (like nginx and
 * Caddy) unless `lastGood` opts in to the last-known-good copy from the state dir; `invalid` then
 * says why, for stderr, /readyz, the status page and `portico_config_stale`. The state dir of a
 * broken file comes from --state-dir, else its (unvalidated) state_dir key, else the default.
 */
export async function loadStartupConfig (file: string, lastGood: boolean, stateDirFlag: string | undefined, log: Logger): Promise<LoadedConfig & { invalid?: string }> {
  try {
    return await loadConfigFile(file, { files: true })
  } catch (err) {
    if (!(err instanceof ConfigError) || !lastGood) throw err
    const text = await readFile(file, 'utf8').catch(() => '')
    const hint = stateDirFlag ?? stateDirHint(text) ?? '/var/lib/portico'
    const stateDir = resolve(stateDirFlag === undefined ? resolve(file, '..') : '.', hint)
    const saved = await readLastGood(stateDir)
    if (saved === undefined) throw err
    const config = parseConfigText(saved, file)
    const invalid = `config file is invalid (${err.problems.map(formatProblem).join('; ')}): serving the last-known-good copy from ${stateDir}`
    log.error({ errors: err.problems, state_dir: stateDir }, 'CONFIG FILE IS INVALID: serving the last-known-good config from the state dir; fix the file and reload')
    return { config, source: saved, file, invalid }
  }
}
