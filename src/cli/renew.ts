import { readFile } from 'node:fs/promises'
import { loadConfigFile } from '../config/index.js'

export interface RenewOptions { force: boolean, dryRun: boolean }

/**
 * `portico renew NAME`: asks the running daemon (admin API) to renew, so the new certificate is
 * swapped in there; `--dry-run` orders from the staging directory and stores nothing.
 */
export async function renewCommand (file: string, name: string, o: RenewOptions, out: { stdout: (s: string) => void, stderr: (s: string) => void }): Promise<number> {
  const { config } = await loadConfigFile(file)
  if (config.admin === null) throw new Error('renew talks to the running daemon: admin is disabled in this config')
  const token = config.admin.token_file === undefined ? undefined : (await readFile(config.admin.token_file, 'utf8')).trim()
  const base = `http://${config.admin.address}`
  const query = `name=${encodeURIComponent(name)}${o.force ? '&force=1' : ''}${o.dryRun ? '&dry_run=1' : ''}`
  let res: Response
  try {
    res = await fetch(`${base}/renew?${query}`, {
      method: 'POST',
      headers: { 'x-portico-admin': '1', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
      // Longer than the daemon's own order deadline (acme.order_timeout), which answers first.
      signal: AbortSignal.timeout((config.acme?.order_timeout ?? 600_000) + 60_000)
    })
  } catch (err) {
    const e = err as Error & { cause?: { code?: string, message?: string } }
    const why = e.cause?.code ?? e.cause?.message ?? e.message
    throw new Error(`cannot reach the portico daemon's admin API at ${base} (admin.address in ${file}): ${why}; is portico running?`)
  }
  const body = await res.json() as { ok: boolean, error?: string, serial?: string, skipped?: boolean, directory?: string }
  if (!body.ok) {
    out.stderr(`${o.dryRun ? 'dry run for' : 'renew'} ${name} failed: ${body.error ?? res.status}\n`)
    return 1
  }
  if (o.dryRun) out.stdout(`dry run for ${name} succeeded: ${body.directory ?? 'the staging CA'} issued serial ${body.serial ?? '?'}; nothing was stored or swapped\n`)
  else if (body.skipped === true) out.stdout(`${name} is not due for renewal (serial ${body.serial ?? '?'}); --force renews anyway\n`)
  else out.stdout(`renewed ${name}: serial ${body.serial ?? '?'}\n`)
  return 0
}
