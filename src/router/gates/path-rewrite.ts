import type { Gate } from './types.js'

/**
 * `strip_prefix` and the upstream URL's base path, as one rewrite of the request target:
 * `/objects/a%2Fb?x=1` with strip_prefix `/objects` and upstream `http://minio:9000/bucket`
 * goes upstream as `/bucket/a%2Fb?x=1`. Only whole segments are stripped; the rest of the path
 * and the query pass byte for byte (nothing is decoded or normalised).
 */
export function pathRewriteGate (stripPrefix: string | undefined, basePath: string): Gate | undefined {
  const strip = stripPrefix?.replace(/\/+$/, '') ?? ''
  const base = basePath.replace(/\/+$/, '')
  if (strip === '' && base === '') return undefined
  return (_req, edits) => {
    edits.path = rewritePath(edits.path, strip, base)
    return undefined
  }
}

export function rewritePath (url: string, strip: string, base: string): string {
  let rest = url
  if (strip !== '' && url.startsWith(strip)) {
    const next = url.charCodeAt(strip.length)
    // A whole segment only: /objects matches /objects, /objects/x and /objects?q, not /objectsX.
    if (Number.isNaN(next) || next === 47 /* / */ || next === 63 /* ? */) {
      rest = url.slice(strip.length)
      if (rest === '' || rest.charCodeAt(0) === 63) rest = `/${rest}`
    }
  }
  return base === '' ? rest : base + rest
}
