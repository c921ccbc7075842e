/**
 * Gates: what runs between the routing decision and forwarding, written once against plain
 * request facts (GateRequest) so node:http, HTTP/2 and the HTTP/1.1 engine share them. In order:
 * client_allow/client_deny → basic_auth → forward_auth → request_headers → strip_prefix (and
 * the upstream's base path). The first refusal answers the client; the rest never run.
 */
import { basicAuthGate, type BasicAuthConfig } from './basic-auth.js'
import { clientAccessGate } from './client-access.js'
import { newEdits } from './edits.js'
import { forwardAuthGate, type ForwardAuthConfig } from './forward-auth.js'
import { pathRewriteGate } from './path-rewrite.js'
import { requestHeadersGate, type RequestHeadersConfig } from './request-headers.js'
import type { Gate, GateRequest, Verdict } from './types.js'

export type { GateRequest, UpstreamEdits, Verdict, Refusal } from './types.js'
export { applyUpstreamEdits, PORTICO_OWNED } from './edits.js'
export { gateRequestOf } from './node-request.js'
export { rewritePath } from './path-rewrite.js'

export interface GatesConfig {
  client_allow?: string[] | undefined
  client_deny?: string[] | undefined
  basic_auth?: BasicAuthConfig | undefined
  forward_auth?: ForwardAuthConfig | undefined
  request_headers?: RequestHeadersConfig | undefined
  strip_prefix?: string | undefined
}

/** A route's compiled gates; a route without any has none (and costs nothing). */
export interface RouteGates {
  /** The config keys of the gates, in the order they run (`portico explain` shows them). */
  readonly names: readonly string[]
  run (req: GateRequest): Promise<Verdict>
}

export function compileGates (c: GatesConfig, upstreamBasePath = ''): RouteGates | undefined {
  const pathKey = c.strip_prefix === undefined ? 'upstream base path' : 'strip_prefix'
  const named: Array<[string, Gate | undefined]> = [
    [[c.client_allow === undefined ? '' : 'client_allow', c.client_deny === undefined ? '' : 'client_deny'].filter(Boolean).join('+'),
      clientAccessGate(c.client_allow, c.client_deny)],
    ['basic_auth', c.basic_auth === undefined ? undefined : basicAuthGate(c.basic_auth)],
    ['forward_auth', c.forward_auth === undefined ? undefined : forwardAuthGate(c.forward_auth)],
    ['request_headers', c.request_headers === undefined ? undefined : requestHeadersGate(c.request_headers)],
    [pathKey, pathRewriteGate(c.strip_prefix, upstreamBasePath)]
  ]
  const present = named.filter((n): n is [string, Gate] => n[1] !== undefined)
  if (present.length === 0) return undefined
  const gates = present.map(n => n[1])
  return {
    names: present.map(n => n[0]),
    async run (req) {
      const edits = newEdits(req.url)
      for (const gate of gates) {
        const refusal = await gate(req, edits)
        if (refusal !== undefined) return { pass: false, refusal }
      }
      return { pass: true, edits }
    }
  }
}
