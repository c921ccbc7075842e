import { execFileSync } from 'node:child_process'

/**
 * Options for a test that needs something from the machine (root, a Debian package). Outside CI
 * a missing requirement skips the test with the reason; under CI=true nothing is skipped: the
 * test runs and fails for real, because CI must prove every edge against the real thing.
 */
export function requires (...needs: Array<'root' | `command:${string}`>): { skip: string | false } {
  const missing = needs.filter(n => n === 'root' ? process.getuid?.() !== 0 : !hasCommand(n.slice('command:'.length)))
  if (missing.length === 0 || process.env.CI === 'true') return { skip: false }
  return { skip: `missing: ${missing.join(', ')} (run scripts/install-deps.sh; required under CI)` }
}

function hasCommand (name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
