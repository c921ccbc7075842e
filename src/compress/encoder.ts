import { constants, createBrotliCompress, createGzip, type BrotliCompress, type Gzip } from 'node:zlib'
import type { Encoding } from './negotiate.js'
import type { CompressSettings } from './settings.js'

/** One streaming encoder; its buffers are zlib's defaults (16 KiB chunks), so memory stays bounded. */
export function createEncoder (e: Encoding, s: CompressSettings, sizeHint: number | undefined): Gzip | BrotliCompress {
  if (e === 'gzip') return createGzip({ level: s.gzipLevel })
  const params: Record<number, number> = {
    [constants.BROTLI_PARAM_QUALITY]: s.brotliQuality,
    [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT
  }
  if (sizeHint !== undefined) params[constants.BROTLI_PARAM_SIZE_HINT] = sizeHint
  return createBrotliCompress({ params })
}
