import type { ClusterHealth } from '../cluster/types.js'
import type { UpstreamReport } from '../health/index.js'

/** Everything the status page shows; gathered by the daemon when the page is requested. */
export interface StatusData {
  version: string
  generation: number
  startedAt: string
  lastReload: { at: string, ok: boolean, errors?: string[] } | null
  /** Why the running config is not the file's (a last-known-good start), else null. */
  stale: string | null
  listeners: Array<{ name: string, address: string, port: number }>
  routes: Array<{ name: string, action: string, hits: number }>
  certificates: Array<{ name: string, names: string[], issuer: string, notAfter: string | null, nextRenewal?: string | null, lastError?: string | null }>
  /** null: neither `docker` nor `dns` configured; `configured: false`: only the DNS server runs. */
  docker: { configured: boolean, connected: boolean, lastEventAt: string | null, lastError: string | null, dns_port: number | null, label_problems?: readonly LabelProblems[] } | null
  names: Array<{ name: string, candidates: Array<{ containerName: string, role: string, ipv4?: string | undefined, host?: string | undefined }> }>
  recentErrors: Array<{ rid: string, method: string, host: string | undefined, path: string, status: number, error?: string | undefined }>
  upstreams?: Array<UpstreamStatus & { pid?: number }>
  /** With `cluster`: the etcd connection (else null). */
  cluster?: ClusterState | null
}

/** The etcd cluster as this instance sees it (src/cluster's health). */
export type ClusterState = ClusterHealth

/** One pool member as a serving process sees it. */
export type UpstreamStatus = UpstreamReport

/** Docker containers whose labels were ignored or refused (docs/DOCKER.md). */
interface LabelProblems { container: string, problems: ReadonlyArray<{ label: string, value: string, why: string }> }

const labelProblems = (list: readonly LabelProblems[]): string => list.length === 0
  ? ''
  : `<ul id="label-problems">${list.map(c => `<li class="bad">${esc(c.container)}: ${c.problems.map(p => `${esc(p.label)}=${esc(p.value)} (${esc(p.why)})`).join('; ')}</li>`).join('')}</ul>`

const esc = (s: unknown): string => String(s ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c)

/** Server-rendered HTML, no scripts, no build step: what an operator checks first. */
export function renderStatusPage (d: StatusData, now = Date.now()): string {
  const days = (iso: string | null): number | null => iso === null ? null : Math.floor((Date.parse(iso) - now) / 86_400_000)
  const table = (id: string, head: string[], rows: string[][]): string =>
    `<table id="${id}"><thead><tr>${head.map(h => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.length === 0 ? `<tr><td colspan="${head.length}" class="muted">none</td></tr>` : rows.map(r => `<tr>${r.join('')}</tr>`).join('')}</tbody></table>`
  const td = (v: unknown, cls = ''): string => `<td${cls === '' ? '' : ` class="${cls}"`}>${esc(v)}</td>`
  const reload = d.lastReload === null ? '<span class="muted">none yet</span>' : d.lastReload.ok ? `<span class="ok">ok</span> at ${esc(d.lastReload.at)}` : `<span class="bad">failed</span> at ${esc(d.lastReload.at)}: ${esc(d.lastReload.errors?.join('; '))}`
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>portico status</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;min-width:40rem}th,td{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}.ok{color:#176317}.bad,.warn{color:#b00020;font-weight:600}.muted{color:#888}code{font-size:.9em}
</style></head><body>
<h1>portico ${esc(d.version)}</h1>
<p id="summary">snapshot generation <b>${d.generation}</b> · started ${esc(d.startedAt)} · last reload: <span id="last-reload">${reload}</span></p>
${d.stale === null ? '' : `<p id="stale" class="bad">Serving the last-known-good config, not the file: ${esc(d.stale)}</p>`}
<h2>Listeners</h2>
${table('listeners', ['name', 'address'], d.listeners.map(l => [td(l.name), td(`${l.address}:${l.port}`)]))}
<h2>Routes</h2>
${table('routes', ['route', 'action', 'requests'], d.routes.map(r => [td(r.name), td(r.action), td(r.hits)]))}
<h2>Certificates</h2>
${table('certificates', ['name', 'names', 'issuer', 'not after', 'days left', 'next renewal', 'last error'], d.certificates.map(c => {
    const left = days(c.notAfter)
    return [td(c.name), td(c.names.join(', ')), td(c.issuer), td(c.notAfter ?? '-'), td(left ?? '-', left !== null && left < 14 ? 'warn' : 'ok'), td(c.nextRenewal ?? '-'), td(c.lastError ?? '', c.lastError == null ? '' : 'bad')]
  }))}
${d.cluster == null ? '' : `<h2>Cluster</h2>\n<p id="cluster">${clusterLine(d.cluster)}</p>`}
<h2>Docker names</h2>
<p id="docker">${dockerLine(d.docker)}</p>
${labelProblems(d.docker?.label_problems ?? [])}
${table('names', ['name', 'candidates (best first)'], d.names.map(n => [td(n.name), `<td>${n.candidates.map(c => `${esc(c.containerName)} <span class="${c.role === 'primary' ? 'ok' : 'warn'}">${esc(c.role)}</span> <code>${esc(c.ipv4 ?? '')}</code>${c.host === undefined ? '' : ` on ${esc(c.host)}`}`).join('<br>')}</td>`]))}
<h2>Upstream pools</h2>
${table('upstreams', ['route', 'upstream', 'state', 'in flight', 'last check', 'consecutive'], (d.upstreams ?? []).map(u => [
    td(u.pid === undefined ? u.route : `${u.route} (pid ${u.pid})`), td(u.upstream), td(u.state, u.state === 'up' ? 'ok' : 'bad'), td(u.inflight),
    td(!u.checked ? 'not checked' : u.lastCheck === null ? 'pending' : `${u.lastCheck.ok ? 'ok' : 'failed'} (${u.lastCheck.detail}) at ${u.lastCheck.at}`, u.lastCheck?.ok === false ? 'bad' : ''),
    td(!u.checked ? '-' : u.failStreak > 0 ? `${u.failStreak} failed` : `${u.okStreak} ok`)
  ]))}
<h2>Recent errors</h2>
${table('errors', ['request id', 'request', 'status', 'reason'], d.recentErrors.map(e => [td(e.rid), td(`${e.method} ${e.host ?? ''}${e.path}`), td(e.status, 'bad'), td(e.error ?? '')]))}
</body></html>
`
}

function clusterLine (c: ClusterState): string {
  const state = c.connected ? `<span class="ok">etcd connected</span> since ${esc(c.since)}` : `<span class="bad">etcd unreachable</span> since ${esc(c.since)}: ${esc(c.lastError)}`
  const lease = c.lease === null ? '<span class="bad">no lease</span>' : `lease ${esc(c.lease)}`
  return `instance <b>${esc(c.instance)}</b> · ${state} · ${lease} · last sync ${esc(c.lastSync ?? 'never')}${c.revision === null ? '' : ` (revision ${esc(c.revision)})`}`
}

function dockerLine (d: StatusData['docker']): string {
  const dns = d?.dns_port == null ? '' : ` · DNS server on port ${d.dns_port}`
  if (d === null || !d.configured) return `<span class="muted">Docker not configured</span>${dns}`
  const state = d.connected ? `<span class="ok">connected</span>, last event ${esc(d.lastEventAt ?? 'none')}` : `<span class="bad">disconnected</span>: ${esc(d.lastError)}`
  return state + dns
}
