import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { DnsProvider } from './provider.js'

const run = promisify(execFile)

/** Any other DNS: a hook called like lego's exec provider, `CMD present|cleanup FQDN. VALUE`. */
export function execProvider (command: string, timeoutMs = 120_000): DnsProvider {
  const call = async (action: 'present' | 'cleanup', fqdn: string, value: string): Promise<void> => {
    try {
      await run(command, [action, `${fqdn.replace(/\.$/, '')}.`, value], { timeout: timeoutMs })
    } catch (err) {
      const e = err as Error & { stderr?: string }
      throw new Error(`exec provider ${action} failed: ${e.stderr?.trim() ?? e.message}`)
    }
  }
  return { name: 'exec', present: async (f, v) => await call('present', f, v), cleanup: async (f, v) => await call('cleanup', f, v) }
}
