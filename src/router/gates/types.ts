import type { Answer } from '../reply.js'

/**
 * What a gate may read about a request: plain facts, the same on node:http, HTTP/2 and the
 * HTTP/1.1 engine (each transport builds one of these; see node-request.ts for node's).
 */
export interface GateRequest {
  readonly method: string
  /** Origin-form request target (path and query) as received. */
  readonly url: string
  /** Host header (or :authority) as received. */
  readonly host: string | undefined
  /** A request header by lower-case name; repeated fields joined with ", " (Cookie with "; "). */
  header (name: string): string | undefined
  /** The client after trusted-proxy handling (X-Forwarded-For only from trusted_proxies). */
  readonly clientIp: string
  /** The TCP peer (a trusted proxy, or the client itself). */
  readonly peerIp: string
  readonly proto: 'http' | 'https'
  readonly requestId: string
}

/**
 * What the gates that let a request through want changed on its way upstream. One per
 * request, filled in gate order; the forwarding code applies it once (applyUpstreamEdits).
 */
export interface UpstreamEdits {
  /** Lower-case names of client headers not to forward (a `set` removes before it adds). */
  readonly remove: Set<string>
  /** Headers to add, in order. */
  readonly add: Array<[string, string]>
  /** Path and query to send upstream (strip_prefix and the upstream's base path applied). */
  path: string
  /** The user basic_auth accepted, for the `{auth_user}` placeholder. */
  user: string | undefined
}

/** A gate that stops the request: the answer for the client and the access log's reason. */
export interface Refusal {
  readonly answer: Answer
  readonly reason: string
}

/** One gate: undefined lets the request go on (possibly after adding edits). */
export type Gate = (req: GateRequest, edits: UpstreamEdits) => Refusal | undefined | Promise<Refusal | undefined>

export type Verdict = { readonly pass: true, readonly edits: UpstreamEdits } | { readonly pass: false, readonly refusal: Refusal }
