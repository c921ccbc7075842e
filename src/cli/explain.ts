import type { Config } from '../config/index.js'
import { didYouMean } from '../config/index.js'
import { compileRouteTable, explain } from '../router/index.js'

/**
 * `portico explain`: one JSON line per TARGET, given as `host[/path]` or as a URL
 * (`https://host/path`; its scheme decides TLS for that target). An unknown `--listener` is an
 * error, not a silent "matches nothing".
 */
type Result = { ok: true, out: string } | { ok: false, error: string }

export function explainTargets (config: Config, targets: readonly string[], opts: { plainHttp: boolean, listener: string | undefined }): Result {
  const names = config.listeners.map(l => l.name)
  if (opts.listener !== undefined && !names.includes(opts.listener)) {
    const hint = didYouMean(opts.listener, names)
    return { ok: false, error: `no listener named ${JSON.stringify(opts.listener)}${hint === undefined ? '' : ` (did you mean ${hint}?)`}; listeners: ${names.join(', ')}` }
  }
  const table = compileRouteTable(config)
  const lines = targets.map(t => {
    const url = /^https?:\/\//i.test(t) ? parseUrl(t) : undefined
    const input = url === undefined ? t : `${url.host}${url.path}`
    const tls = url === undefined ? !opts.plainHttp : url.tls
    return JSON.stringify(explain(table, input, { tls, ...(opts.listener === undefined ? {} : { listener: opts.listener }) }))
  })
  return { ok: true, out: lines.join('\n') + '\n' }
}

function parseUrl (t: string): { host: string, path: string, tls: boolean } | undefined {
  try {
    const u = new URL(t)
    return { host: u.host, path: `${u.pathname}${u.search}`, tls: u.protocol === 'https:' }
  } catch {
    return undefined
  }
}
