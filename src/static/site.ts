import type { StaticConfig } from '../config/index.js'

/** A `static` route's compiled settings (part of the immutable snapshot). */
export interface StaticSite {
  readonly root: string
  readonly index: string
  readonly spaFallback: boolean
  readonly browse: boolean
  /** Matched against the served file's path below root (no leading slash). */
  readonly immutable: RegExp
  readonly cacheControl: string | undefined
  /** The route's path prefix, removed before the path is mapped below root (like nginx `alias`). */
  readonly prefix: string
}

export function compileStaticSite (c: StaticConfig, prefix: string | undefined): StaticSite {
  return {
    root: c.root,
    index: c.index,
    spaFallback: c.spa_fallback,
    browse: c.browse,
    immutable: new RegExp(c.immutable),
    cacheControl: c.cache_control,
    prefix: prefix ?? ''
  }
}
