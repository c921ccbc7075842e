import type { HeaderList } from '../cors/index.js'
import { scopeSetCookies } from './cookies.js'
import type { ResponseHeaderMap } from './headers.js'
import { normalizeHost } from './host.js'
import type { CompiledRoute } from './route-table.js'

export type ResponseEditor = ((headers: ResponseHeaderMap) => void) & {
  /** Touches only Set-Cookie fields (cookie scoping): a response without any needs no editing. */
  readonly cookiesOnly?: true
}

/** Composes the route's response edits, or returns undefined when there are none (the common case). */
export function responseEditor (route: CompiledRoute, requestHost: string | undefined, cors: HeaderList | undefined): ResponseEditor | undefined {
  const edits = route.responseHeaders
  const cookieHost = route.action.kind === 'uap' && route.action.cookieScoping ? normalizeHost(requestHost) : undefined
  if (edits === undefined && cookieHost === undefined && cors === undefined) return undefined
  const edit: ResponseEditor = h => {
    if (edits !== undefined) {
      for (const k of edits.remove) delete h[k]
      for (const [k, v] of edits.set) h[k] = v
    }
    if (cookieHost !== undefined) scopeSetCookies(h, cookieHost)
    if (cors !== undefined) addCors(h, cors)
  }
  // UAP routes edit nothing but Set-Cookie: a response without one can take the transport's unedited fast path.
  return edits === undefined && cors === undefined ? Object.assign(edit, { cookiesOnly: true }) : edit
}

/** Sets the CORS answer; `Vary: Origin` is added to what the upstream varies on, once. */
export function addCors (h: ResponseHeaderMap, cors: HeaderList): void {
  for (const [k, v] of cors) {
    if (k === 'vary') {
      const prev = h.vary === undefined ? '' : typeof h.vary === 'string' ? h.vary : h.vary.join(', ')
      h.vary = prev === '' ? v : /\borigin\b/i.test(prev) ? prev : `${prev}, ${v}`
    } else {
      h[k] = v
    }
  }
}
