import type { Config } from '../config/index.js'
import { loadState, readCertificate, renewAt } from '../acme/index.js'
import { loadCertificate } from '../tls/index.js'

interface Row { name: string, names: string, issuer: string, notAfter: string, daysLeft: string, nextRenewal: string, source: string }

/** `portico certs`: every certificate the config serves, read from disk (no daemon needed). */
export async function certificateTable (config: Config, now = Date.now()): Promise<string> {
  const rows: Row[] = []
  const days = (d: Date): string => String(Math.floor((d.getTime() - now) / 86_400_000))
  const state = await loadState(config.state_dir)
  for (const c of config.acme?.certificates ?? []) {
    const s = await readCertificate(config.acme?.store_dir ?? config.state_dir, c.name).catch((err: Error) => err)
    if (s instanceof Error || s === undefined) {
      rows.push({ name: c.name, names: c.domains.join(','), issuer: s instanceof Error ? `INVALID: ${s.message}` : '(not issued yet)', notAfter: '-', daysLeft: '-', nextRenewal: 'now', source: 'acme' })
      continue
    }
    const next = state[c.name]?.nextAttempt ?? renewAt(s.notBefore, s.notAfter, () => 0)
    rows.push({ name: c.name, names: c.domains.join(','), issuer: cn(s.issuer), notAfter: s.notAfter.toISOString(), daysLeft: days(s.notAfter), nextRenewal: new Date(next).toISOString(), source: 'acme' })
  }
  for (const c of config.tls.certificates) {
    const l = await loadCertificate(c.cert_file, c.key_file).catch((err: Error) => err)
    if (l instanceof Error) {
      rows.push({ name: c.cert_file, names: '-', issuer: `INVALID: ${l.message}`, notAfter: '-', daysLeft: '-', nextRenewal: '-', source: 'file' })
      continue
    }
    rows.push({ name: c.cert_file, names: l.names.join(','), issuer: cn(l.issuer), notAfter: l.notAfter.toISOString(), daysLeft: days(l.notAfter), nextRenewal: '(external)', source: 'file' })
  }
  const header: Row = { name: 'NAME', names: 'NAMES', issuer: 'ISSUER', notAfter: 'NOT AFTER', daysLeft: 'DAYS', nextRenewal: 'NEXT RENEWAL', source: 'SOURCE' }
  const all = [header, ...rows]
  const keys = Object.keys(header) as Array<keyof Row>
  const widths = keys.map(k => Math.max(...all.map(r => r[k].length)))
  return all.map(r => keys.map((k, i) => r[k].padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n'
}

function cn (issuer: string): string {
  return /CN=([^,]+)/.exec(issuer)?.[1] ?? issuer
}
