import type { CompressConfig } from '../config/index.js'
import type { Encoding } from './negotiate.js'

/** A route's compiled `compress` options (part of the immutable snapshot). */
export interface CompressSettings {
  readonly encodings: readonly Encoding[]
  /** Media types without parameters, lower case. */
  readonly types: ReadonlySet<string>
  readonly minSize: number
  readonly gzipLevel: number
  readonly brotliQuality: number
}

export function compileCompress (c: CompressConfig): CompressSettings {
  return { encodings: c.encodings, types: new Set(c.types), minSize: c.min_size, gzipLevel: c.gzip_level, brotliQuality: c.brotli_quality }
}
