import { join } from 'node:path'
import type { Config } from '../config/index.js'
import { emptyState, loadState, plannedRenewal, readServable } from '../acme/index.js'
import { loadCertificate } from '../tls/index.js'

interface Row { name: string, names: string, issuer: string, notAfter: string, daysLeft: string, nextRenewal: string, failures: string, source: string, lastError: string }

/**
 * `portico certs`: every certificate the config serves (ACME, files, self-signed stand-ins), read
 * from disk (no daemon needed), with the ACME schedule: planned renewal or retry after a failure,
 * failure count and last error. `problems` lists what cannot be served as configured (exit 1).
 */
export async function certificateTable (config: Config, now = Date.now()): Promise<{ text: string, problems: string[] }> {
  const rows: Row[] = []
  const problems: string[] = []
  const days = (d: Date): string => String(Math.floor((d.getTime() - now) / 86_400_000))
  const state = await loadState(config.state_dir)
  const none = { notAfter: '-', daysLeft: '-', failures: '-', lastError: '' }
  for (const c of config.acme?.certificates ?? []) {
    const { stored, problem } = await readServable(config.acme?.store_dir ?? config.state_dir, c.name)
      .catch((err: Error) => ({ stored: undefined, problem: err.message }))
    const s = state[c.name]
    const schedule = {
      failures: String(s?.failures ?? 0),
      lastError: s?.lastError ?? '',
      nextRenewal: s?.nextAttempt != null
        ? `retry ${new Date(s.nextAttempt).toISOString()}`
        : stored === undefined ? 'now' : new Date(plannedRenewal(s ?? emptyState(), stored, () => 0)).toISOString()
    }
    if (problem !== undefined) problems.push(`${c.name}: ${problem}${stored === undefined ? '' : ` (serving archive version ${stored.version})`}`)
    if (stored === undefined) {
      const placeholder = join(config.state_dir, 'acme', 'placeholder', c.name, 'cert.pem')
      const issuer = problem !== undefined ? 'INVALID (see below)' : '(not issued yet: self-signed stand-in)'
      rows.push({ name: c.name, names: c.domains.join(','), issuer, ...none, ...schedule, source: `acme (${placeholder})` })
      continue
    }
    rows.push({ name: c.name, names: c.domains.join(','), issuer: cn(stored.issuer), notAfter: stored.notAfter.toISOString(), daysLeft: days(stored.notAfter), ...schedule, source: 'acme' })
  }
  const files = [
    ...config.tls.certificates.map(c => ({ cert: c.cert_file, key: c.key_file, source: 'file', next: '(external)' })),
    ...(config.tls.self_signed === undefined ? [] : [{ cert: join(config.state_dir, 'self-signed', 'cert.pem'), key: join(config.state_dir, 'self-signed', 'key.pem'), source: 'self-signed', next: '(at start)' }])
  ]
  for (const f of files) {
    const l = await loadCertificate(f.cert, f.key).catch((err: Error) => err)
    if (l instanceof Error) {
      // A self-signed certificate not generated yet is made at start: not a problem.
      if (f.source === 'file') problems.push(l.message)
      rows.push({ name: f.cert, names: '-', issuer: f.source === 'file' ? 'INVALID (see below)' : '(generated at start)', ...none, nextRenewal: '-', source: f.source })
      continue
    }
    rows.push({ name: f.cert, names: l.names.join(','), issuer: cn(l.issuer), notAfter: l.notAfter.toISOString(), daysLeft: days(l.notAfter), nextRenewal: f.next, failures: '-', lastError: '', source: f.source })
  }
  const header: Row = { name: 'NAME', names: 'NAMES', issuer: 'ISSUER', notAfter: 'NOT AFTER', daysLeft: 'DAYS', nextRenewal: 'NEXT RENEWAL', failures: 'FAILURES', source: 'SOURCE', lastError: 'LAST ERROR' }
  const all = [header, ...rows]
  const keys = Object.keys(header) as Array<keyof Row>
  const widths = keys.map(k => Math.max(...all.map(r => r[k].length)))
  const text = all.map(r => keys.map((k, i) => r[k].padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n'
  return { text, problems }
}

function cn (issuer: string): string {
  return /CN=([^,]+)/.exec(issuer)?.[1] ?? issuer
}
