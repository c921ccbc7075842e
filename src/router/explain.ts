import type { RouteTable } from './route-table.js'
import { decide, gatesOf } from './decide.js'

/** One `portico explain` answer: the decision for a TARGET given as `host[/path]`. */
export interface Explanation {
  host: string
  path: string
  route: string | null
  action: 'proxy' | 'deny' | 'redirect' | 'respond' | 'cors-proxy' | 'static' | 'none'
  target: string | null
  location: string | null
  status: number | null
  reason: string
  /**
   * The route's gates that run before this request is served (config keys, in order): they may
   * still refuse it (403, 401) by the client's address or credentials, which explain cannot know.
   */
  gates: readonly string[]
}

export function explain (table: RouteTable, input: string, opts: { tls?: boolean, listener?: string } = {}): Explanation {
  const slash = input.indexOf('/')
  const host = slash < 0 ? input : input.slice(0, slash)
  const path = slash < 0 ? '/' : input.slice(slash)
  const d = decide(table, { host, url: path, listener: opts.listener, tls: opts.tls ?? true })
  return {
    host,
    path,
    route: d.route?.name ?? null,
    action: d.action,
    target: d.action === 'proxy' ? d.target : null,
    location: d.action === 'redirect' ? d.location : null,
    status: d.action === 'deny' || d.action === 'redirect' ? d.status : d.action === 'none' ? 404 : d.action === 'respond' && d.route.action.kind === 'respond' ? d.route.action.status : null,
    reason: d.reason,
    gates: gatesOf(d)?.names ?? []
  }
}
