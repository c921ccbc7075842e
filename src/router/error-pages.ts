import type { ErrorPageConfig } from '../config/index.js'
import { sendAnswer, type Answer, type HeaderPairs, type Reply } from './reply.js'

/** One replacement body, bytes already in memory (read when the snapshot was built). */
export interface ErrorPage {
  readonly body: Buffer
  readonly contentType: string
  /** Also replaces the upstream's own answers with this status. */
  readonly upstream: boolean
}

/** A route's `error_pages`, looked up by status: an exact status wins over its class ("5xx"). */
export interface ErrorPages {
  find (status: number): ErrorPage | undefined
}

/** File bodies by absolute path: read by the snapshot builder (async), never on the request path. */
export type ErrorPageFiles = ReadonlyMap<string, Buffer>

export function compileErrorPages (pages: readonly ErrorPageConfig[], files: ErrorPageFiles | undefined): ErrorPages {
  const exact = new Map<number, ErrorPage>()
  const classes = new Map<number, ErrorPage>()
  for (const p of pages) {
    const page: ErrorPage = {
      body: p.file === undefined ? Buffer.from(p.body ?? '') : files?.get(p.file) ?? Buffer.from(`error page ${p.file} was not loaded\n`),
      contentType: p.content_type,
      upstream: p.upstream
    }
    for (const s of Array.isArray(p.status) ? p.status : [p.status]) {
      // The first entry naming a status keeps it (like the first matching route).
      const isClass = typeof s === 'string' && s.endsWith('xx')
      const [map, key] = isClass ? [classes, Number(s.slice(0, 1))] : [exact, Number(s)]
      if (!map.has(key)) map.set(key, page)
    }
  }
  return { find: status => exact.get(status) ?? classes.get(Math.floor(status / 100)) }
}

/** Every file the config's error pages name, for the snapshot builder to read. */
export function errorPageFiles (routes: ReadonlyArray<{ error_pages?: readonly ErrorPageConfig[] | undefined }>): string[] {
  return [...new Set(routes.flatMap(r => (r.error_pages ?? []).flatMap(p => p.file === undefined ? [] : [p.file])))]
}

/** The page as an answer: the status kept, portico's usual error headers (no caching, the request id). */
export function pageAnswer (page: ErrorPage, status: number, extra: HeaderPairs): Answer {
  return { status, headers: [['content-type', page.contentType], ['cache-control', 'no-store'], ...extra], body: page.body }
}

/**
 * Replaces an upstream's answer that has an `upstream: true` page (the maintenance page during
 * an upgrade): the page goes out at `head`, the upstream's body is read and dropped. The
 * upstream's Retry-After survives (it tells clients when to come back).
 */
export function upstreamErrorReply (inner: Reply, pages: ErrorPages, method: string, extra: HeaderPairs): Reply {
  let replaced = false
  return {
    get headSent () { return inner.headSent },
    head (status, headers) {
      const page = status >= 400 ? pages.find(status) : undefined
      if (page === undefined || !page.upstream) { inner.head(status, headers); return }
      replaced = true
      const keep = headers.filter(([k]) => k === 'retry-after')
      sendAnswer(inner, pageAnswer(page, status, [...extra, ...keep]), method)
    },
    write (chunk) { return replaced || inner.write(chunk) },
    end (chunk) { if (!replaced) inner.end(chunk) },
    onDrain (fn) { inner.onDrain(fn) },
    onClose (fn) { inner.onClose(fn) },
    // The page is complete: a later upstream failure no longer concerns the client.
    destroy () { if (!replaced) inner.destroy() }
  }
}
