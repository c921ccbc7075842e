import { decide, type Decision } from './decide.js'
import { requestTarget } from './request-target.js'
import { misdirected } from './sni.js'
import { requestAccessFields } from './access-fields.js'
import type { RequestInfo } from './request-info.js'
import type { AccessEntry, ListenerInfo, RouterDeps, RouterView } from './view.js'

export interface UpstreamTiming { upstreamStatus?: number | undefined, upstreamMs?: number | undefined }

/** A request as every transport and the upgrade path see it: one derivation, so they cannot drift. */
export interface OpenedRequest {
  readonly rid: string
  /** Host header (or :authority, or the absolute-form target's authority) as received. */
  readonly host: string | undefined
  /** Origin-form request target (path and query) as received. */
  readonly url: string
  /** Set when the target was absolute-form: the Host to send upstream even with preserve_host. */
  readonly forcedHost: string | undefined
  readonly decision: Decision
  /**
   * Writes the access entry. `bytesIn`: body bytes read; default the Content-Length (0 without one).
   * `up`: the upstream's own status and time to its response headers.
   */
  log (status: number, bytes: number, upstream: string | undefined, error?: string, bytesIn?: number, up?: UpstreamTiming): void
}

/**
 * Host (a missing or repeated Host line is a 400 from decide()), target, the strict-SNI check
 * and the routing decision, against the snapshot the request keeps to its end.
 */
export function openRequest (
  deps: RouterDeps, view: RouterView, listener: ListenerInfo, req: RequestInfo, rid: string, upgrade: boolean
): OpenedRequest {
  const started = performance.now()
  const hostHeader = req.hostHeader
  // Absolute-form targets bring their own host; other non-path targets are refused by decide().
  const { host, url } = requestTarget(req.target, hostHeader) ?? { host: hostHeader, url: req.target }
  // A TLS listener configured on port 0 (tests, demos): redirects name the port it is bound to.
  const httpsPort = view.routes.httpsPort === 0 ? deps.boundHttpsPort?.() : undefined
  const facts = { host, url, listener: listener.name, tls: listener.tls, httpsPort }
  const sniMismatch = listener.tls && view.strictSniHost ? misdirected(req.servername, host) : undefined
  const decision = sniMismatch ?? decide(view.routes, facts, view.names)
  const action = upgrade ? `${decision.action}:upgrade` : decision.action
  const declared = upgrade ? 0 : req.declaredLength
  return {
    rid,
    host,
    url,
    // An absolute-form target's authority also replaces the Host header sent upstream.
    forcedHost: host !== hostHeader ? host : undefined,
    decision,
    log (status, bytes, upstream, error, bytesIn, up) {
      const full = error !== undefined || status >= 500 || deps.accessLogged?.() !== false
      const entry: AccessEntry = {
        ...(full ? requestAccessFields(req, view.trustedProxies) : undefined), upstreamStatus: up?.upstreamStatus, upstreamMs: up?.upstreamMs,
        rid, method: req.method, host, path: url, status, bytes, bytesIn: bytesIn ?? declared,
        ms: Math.round((performance.now() - started) * 1000) / 1000, route: decision.route?.name, upstream, action, listener: listener.name
      }
      if (error !== undefined) entry.error = error
      deps.access(entry)
    }
  }
}
