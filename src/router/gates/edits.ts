import { PORTICO_OWNED_HEADERS } from '../../config/index.js'
import type { UpstreamEdits } from './types.js'

/**
 * Header names portico owns on the way upstream: hop-by-hop fields (RFC 9110 §7.6.1), framing,
 * Host (preserve_host decides it) and the forwarding headers it builds itself. Config
 * validation refuses them in request_headers and forward_auth.copy_headers; this guard keeps
 * them intact even so — portico's own value always wins.
 */
export const PORTICO_OWNED: ReadonlySet<string> = new Set(PORTICO_OWNED_HEADERS)

export function newEdits (url: string): UpstreamEdits {
  return { remove: new Set(), add: [], path: url, user: undefined }
}

/** Drops the client's field and anything an earlier gate added under that name. */
export function dropHeader (e: UpstreamEdits, name: string): void {
  e.remove.add(name)
  for (let i = e.add.length - 1; i >= 0; i--) if ((e.add[i] as [string, string])[0] === name) e.add.splice(i, 1)
}

export function setHeader (e: UpstreamEdits, name: string, value: string): void {
  dropHeader(e, name)
  e.add.push([name, value])
}

/** The flat [name, value, ...] list for undici with the edits applied (the same list when there are none). */
export function applyUpstreamEdits (flat: string[], e: UpstreamEdits | undefined): string[] {
  if (e === undefined || (e.remove.size === 0 && e.add.length === 0)) return flat
  const out: string[] = []
  for (let i = 0; i < flat.length; i += 2) {
    const lower = (flat[i] as string).toLowerCase()
    if (e.remove.has(lower) && !PORTICO_OWNED.has(lower)) continue
    out.push(flat[i] as string, flat[i + 1] as string)
  }
  for (const [name, value] of e.add) if (!PORTICO_OWNED.has(name)) out.push(name, value)
  return out
}
