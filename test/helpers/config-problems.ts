import { ConfigError, parseConfigText } from '../../src/config/index.js'

/** The `FILE:LINE:COL: key: message` lines a config text (as file c.yaml) is refused with; [] when valid. */
export function configProblems (text: string): string[] {
  try {
    parseConfigText(text, 'c.yaml')
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n')
    throw err
  }
  return []
}
