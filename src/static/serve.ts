import { constants, open, readdir, realpath, stat, type FileHandle } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import { join, sep } from 'node:path'
import mime from 'mime-types'
import { sendAnswer, type HeaderPairs, type Reply } from '../router/reply.js'
import { byteRange, entityTag, lastModified, notModified } from './conditional.js'
import { directoryListing } from './listing.js'
import { relativeFilePath } from './safe-path.js'
import type { StaticSite } from './site.js'
import { streamFile } from './stream-file.js'

/** Plain request facts: the same code serves node:http, HTTP/2 and the engine. */
export interface StaticRequest {
  method: string
  /** Path and query as received. */
  url: string
  header (name: string): string | undefined
}

/** `sent`: the reply is written (or being streamed); `error`: the caller answers (error pages apply). */
export type StaticOutcome =
  | { kind: 'sent', status: number, bytes: number }
  | { kind: 'error', status: 404 | 405, reason: string }

const IMMUTABLE = 'public, max-age=31536000, immutable'
const TEXT = ['content-type', 'text/plain; charset=utf-8'] as const
const NOT_FOUND = { kind: 'error', status: 404, reason: 'no such file' } as const

/**
 * Serves one request from a static site. Only async file I/O; the path is mapped below root
 * with traversal refused up front (safe-path.ts) and the resolved real path (symlinks) checked
 * to stay inside root's real path, so nothing outside root is ever opened.
 */
export async function serveStatic (site: StaticSite, req: StaticRequest, reply: Reply): Promise<StaticOutcome> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sent(reply, 405, [['allow', 'GET, HEAD'], TEXT], 'method not allowed\n', req.method)
  }
  const q = req.url.indexOf('?')
  const urlPath = q < 0 ? req.url : req.url.slice(0, q)
  const rel = relativeFilePath(urlPath.slice(site.prefix.length))
  if (rel === undefined) return { kind: 'error', status: 404, reason: 'path refused (traversal or encoded separator)' }
  let root: string
  try { root = await realpath(site.root) } catch { return { kind: 'error', status: 404, reason: 'static root is missing' } }
  const found = await inside(root, join(root, ...rel))
  if (found === 'outside') return { kind: 'error', status: 404, reason: 'path resolves outside root' }
  if (found !== undefined && found.st.isDirectory()) {
    if (!urlPath.endsWith('/')) {
      const location = `${urlPath}/${q < 0 ? '' : req.url.slice(q)}`
      return sent(reply, 301, [['location', location]], '', req.method)
    }
    const index = await inside(root, join(found.real, site.index))
    if (index !== undefined && index !== 'outside' && index.st.isFile()) {
      return await sendFile(site, req, reply, index.real, [...rel, site.index].join('/'))
    }
    if (site.browse) return await listing(found.real, urlPath, req.method, reply)
  } else if (found !== undefined && found.st.isFile()) {
    return await sendFile(site, req, reply, found.real, rel.join('/'))
  }
  // try_files $uri /index.html — but a missing hashed asset stays a 404 (never HTML cached as JS for a year).
  if (site.spaFallback && !site.immutable.test(rel.join('/'))) {
    const index = await inside(root, join(root, site.index))
    if (index !== undefined && index !== 'outside' && index.st.isFile()) return await sendFile(site, req, reply, index.real, site.index)
  }
  return NOT_FOUND
}

/** The real path and its stats when it exists below root; 'outside' when a symlink leads out. */
async function inside (root: string, path: string): Promise<{ real: string, st: Stats } | 'outside' | undefined> {
  let real: string
  try { real = await realpath(path) } catch { return undefined }
  if (real !== root && !real.startsWith(root.endsWith(sep) ? root : root + sep)) return 'outside'
  try { return { real, st: await stat(real) } } catch { return undefined }
}

async function sendFile (site: StaticSite, req: StaticRequest, reply: Reply, file: string, relPath: string): Promise<StaticOutcome> {
  let fh: FileHandle
  // O_NOFOLLOW: a symlink swapped in after the check is refused rather than followed.
  try { fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW) } catch { return NOT_FOUND }
  let st: Stats
  try {
    st = await fh.stat()
    if (!st.isFile()) { await fh.close(); return NOT_FOUND }
  } catch (err) {
    await fh.close().catch(() => {})
    throw err
  }
  const etag = entityTag(st)
  const modified = lastModified(st)
  const cache = site.immutable.test(relPath) ? IMMUTABLE : site.cacheControl
  const validators: Array<[string, string]> = [['etag', etag], ['last-modified', modified]]
  if (cache !== undefined) validators.push(['cache-control', cache])
  if (notModified(etag, st, req.header('if-none-match'), req.header('if-modified-since'))) {
    await fh.close()
    reply.head(304, validators)
    reply.end()
    return { kind: 'sent', status: 304, bytes: 0 }
  }
  const type = mime.contentType(relPath.slice(relPath.lastIndexOf('/') + 1)) || 'application/octet-stream'
  const headers: Array<[string, string]> = [['content-type', type], ...validators, ['accept-ranges', 'bytes']]
  const range = req.method === 'GET'
    ? byteRange(st.size, req.header('range'), req.header('if-range'), etag, modified)
    : { kind: 'full' as const }
  if (range.kind === 'unsatisfiable') {
    await fh.close()
    return sent(reply, 416, [['content-range', `bytes */${st.size}`], TEXT], 'range not satisfiable\n', req.method)
  }
  const [status, start, end] = range.kind === 'partial' ? [206, range.start, range.end] : [200, 0, st.size - 1]
  if (range.kind === 'partial') headers.push(['content-range', `bytes ${start}-${end}/${st.size}`])
  headers.push(['content-length', String(end - start + 1)])
  reply.head(status, headers as HeaderPairs)
  if (req.method === 'HEAD') {
    await fh.close()
    reply.end()
    return { kind: 'sent', status, bytes: 0 }
  }
  return { kind: 'sent', status, bytes: await streamFile(fh, start, end, reply) }
}

async function listing (dir: string, urlPath: string, method: string, reply: Reply): Promise<StaticOutcome> {
  const entries = await readdir(dir, { withFileTypes: true })
  const body = directoryListing(urlPath, entries.map(e => ({ name: e.name, dir: e.isDirectory() })))
  return sent(reply, 200, [['content-type', 'text/html; charset=utf-8'], ['cache-control', 'no-cache']], body, method)
}

/** A small complete answer of the static handler itself (405, 301, 416, listings). */
function sent (reply: Reply, status: number, headers: HeaderPairs, body: string, method: string): StaticOutcome {
  return { kind: 'sent', status, bytes: sendAnswer(reply, { status, headers, body }, method) }
}
