import { readFile } from 'node:fs/promises'
import { isAbsolute, dirname, resolve } from 'node:path'
import { load as fastLoad, CORE_SCHEMA } from 'js-yaml'
import { LineCounter, parseDocument, isMap, isPair, isScalar, type Document, type Node as YamlNode } from 'yaml'
import type { z } from 'zod'
import { configSchema, type Config } from './schema.js'
import { didYouMean } from './did-you-mean.js'
import { keysAt } from './schema-keys.js'
import { checkFiles } from './file-checks.js'
import { clusterPaths } from './cluster-schema.js'

/** One problem in a config file, located to the line and column an editor jumps to. */
export interface ConfigProblem {
  file: string
  line: number
  col: number
  key: string
  message: string
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[]
  constructor (problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'))
    this.problems = problems
    this.name = 'ConfigError'
  }
}

export function formatProblem (p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.key === '' ? '' : `${p.key}: `}${p.message}`
}

export interface LoadedConfig {
  config: Config
  /** The exact text that validated, persisted as last-known-good. */
  source: string
  file: string
}

/**
 * Reads, parses and validates a config file. With `files` (what `check`, `run` and reloads use),
 * also the files it names (certificates, CA bundles, secrets): everything short of binding.
 */
export async function loadConfigFile (file: string, opts: { files?: boolean } = {}): Promise<LoadedConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ConfigError([{ file, line: 1, col: 1, key: '', message: `cannot read config: ${(err as Error).message}` }])
  }
  const parsed = parse(text, file)
  if (opts.files === true) {
    const problems = await checkFiles(parsed.config)
    if (problems.length > 0) throw new ConfigError(sorted(problems.map(p => located(parsed, p.path, p.message))))
  }
  return { config: parsed.config, source: text, file }
}

/** Parses and validates YAML text; relative paths in the result are resolved against the file's folder. */
export function parseConfigText (text: string, file: string): Config {
  return parse(text, file).config
}

interface Located { doc: Document, at: (offset: number) => { line: number, col: number } }
interface Parsed { config: Config, file: string, located: () => Located }

/**
 * Two paths. A valid file goes through js-yaml (YAML 1.2 core schema, like \`yaml\`'s default)
 * and the schema only: \`yaml\`'s Document keeps a CST and a node with source ranges per value,
 * which made 100k routes take 16 s and 1 GB. Only a file with a problem is parsed again into a
 * Document, to locate each problem at its FILE:LINE:COL.
 */
function parse (text: string, file: string): Parsed {
  const fast = parseFast(text)
  if (fast !== undefined) {
    const result = configSchema.safeParse(fast)
    if (result.success) {
      let doc: Located | undefined
      return { config: resolvePaths(result.data, dirname(resolve(file))), file, located: () => (doc ??= document(text)) }
    }
  }
  return parseLocated(text, file)
}

function parseFast (text: string): unknown {
  try {
    return fastLoad(text, { schema: CORE_SCHEMA, json: false }) ?? {}
  } catch {
    return undefined
  }
}

function document (text: string): Located {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  return { doc, at: (offset: number) => lineCounter.linePos(offset) }
}

function parseLocated (text: string, file: string): Parsed {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  const at = (offset: number): { line: number, col: number } => lineCounter.linePos(offset)
  if (doc.errors.length > 0) {
    // The first syntax error only: the parser's follow-up errors (a tab gives seven) are noise.
    const e = doc.errors[0]!
    throw new ConfigError([{ file, ...at(e.pos[0]), key: '', message: e.message.split('\n')[0] ?? e.message }])
  }
  const result = configSchema.safeParse(doc.toJS() ?? {})
  if (!result.success) {
    throw new ConfigError(sorted(result.error.issues.map(issue => locateIssue(issue, doc, file, at))))
  }
  return { config: resolvePaths(result.data, dirname(resolve(file))), file, located: () => ({ doc, at }) }
}

function sorted (problems: ConfigProblem[]): ConfigProblem[] {
  return problems.sort((a, b) => a.line - b.line || a.col - b.col)
}

function located (p: Parsed, path: PropertyKey[], message: string): ConfigProblem {
  const { doc, at } = p.located()
  return { file: p.file, ...at(nearestNode(doc, path)?.range?.[0] ?? 0), key: formatPath(path), message }
}

function locateIssue (issue: z.core.$ZodIssue, doc: Document, file: string, at: (o: number) => { line: number, col: number }): ConfigProblem {
  const path = issue.path as PropertyKey[]
  let key = formatPath(path)
  let message = issue.message
  let node = nearestNode(doc, path)
  if (issue.code === 'unrecognized_keys') {
    const unknown = issue.keys[0] ?? ''
    key = formatPath([...path, unknown])
    const keyNode = keyNodeOf(node, unknown)
    if (keyNode !== undefined) node = keyNode
    const hint = didYouMean(unknown, keysAt(configSchema, path))
    message = `unknown key ${JSON.stringify(unknown)}${hint === undefined ? '' : ` (did you mean ${JSON.stringify(hint)}?)`}`
  } else if (issue.code === 'invalid_type' && doc.getIn(path, true) === undefined) {
    message = `${message.replace(/, received undefined$/, '')} (required key missing)`
  }
  const offset = node?.range?.[0] ?? 0
  return { file, ...at(offset), key, message }
}

/** The deepest YAML node along the path that exists (a missing key is reported at its parent). */
function nearestNode (doc: Document, path: PropertyKey[]): YamlNode | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true) as YamlNode | undefined
    if (node !== undefined && node !== null && typeof node === 'object' && 'range' in node) return node
  }
  return doc.contents ?? undefined
}

function keyNodeOf (node: YamlNode | undefined, key: string): YamlNode | undefined {
  if (!isMap(node)) return undefined
  for (const item of node.items) {
    if (isPair(item) && isScalar(item.key) && String(item.key.value) === key) return item.key
  }
  return undefined
}

function formatPath (path: PropertyKey[]): string {
  return path.map((p, i) => typeof p === 'number' ? `[${p}]` : (i === 0 ? String(p) : `.${String(p)}`)).join('')
}

function resolvePaths (config: Config, base: string): Config {
  const abs = (p: string): string => isAbsolute(p) ? p : resolve(base, p)
  const fixTls = <T extends { ca_file?: string | undefined }>(t: T): T => t.ca_file === undefined ? t : { ...t, ca_file: abs(t.ca_file) }
  return {
    ...config,
    state_dir: abs(config.state_dir),
    log: { ...config.log, ...(config.log.access_file === undefined ? {} : { access_file: abs(config.log.access_file) }) },
    admin: config.admin === null ? null : { ...config.admin, ...(config.admin.token_file === undefined ? {} : { token_file: abs(config.admin.token_file) }) },
    ...(config.acme === undefined ? {} : { acme: acmePaths(config.acme, abs) }),
    ...(config.cluster === undefined ? {} : { cluster: clusterPaths(config.cluster, abs) }),
    tls: { ...config.tls, certificates: config.tls.certificates.map(c => ({ cert_file: abs(c.cert_file), key_file: abs(c.key_file) })) },
    routes: config.routes.map(r => ({
      ...r,
      ...(r.uap === undefined ? {} : { uap: { ...r.uap, tls: fixTls(r.uap.tls) } }),
      ...(r.proxy === undefined ? {} : { proxy: { ...r.proxy, tls: fixTls(r.proxy.tls) } }),
      ...(r.cors_proxy === undefined ? {} : { cors_proxy: { ...r.cors_proxy, tls: fixTls(r.cors_proxy.tls) } }),
      ...(r.docker === undefined ? {} : { docker: { ...r.docker, tls: fixTls(r.docker.tls) } }),
      ...(r.static === undefined ? {} : { static: { ...r.static, root: abs(r.static.root) } }),
      ...(r.error_pages === undefined ? {} : { error_pages: r.error_pages.map(p => p.file === undefined ? p : { ...p, file: abs(p.file) }) })
    }))
  }
}

function acmePaths (a: NonNullable<Config['acme']>, abs: (p: string) => string): NonNullable<Config['acme']> {
  return {
    ...a,
    ...(a.ca_file === undefined ? {} : { ca_file: abs(a.ca_file) }),
    ...(a.store_dir === undefined ? {} : { store_dir: abs(a.store_dir) }),
    ...(a.eab === undefined ? {} : { eab: { ...a.eab, hmac_key_file: abs(a.eab.hmac_key_file) } }),
    ...(a.cloudflare === undefined ? {} : { cloudflare: { ...a.cloudflare, token_file: abs(a.cloudflare.token_file) } }),
    ...(a.rfc2136 === undefined ? {} : { rfc2136: { ...a.rfc2136, key_secret_file: abs(a.rfc2136.key_secret_file) } }),
    ...(a.exec === undefined ? {} : { exec: { command: abs(a.exec.command) } }),
    ...(a.route53?.secret_access_key_file === undefined ? {} : { route53: { ...a.route53, secret_access_key_file: abs(a.route53.secret_access_key_file) } })
  }
}

/** The top-level keys a shared document (the `cluster.config_key` value in etcd) may hold. */
export const SHARED_KEYS: readonly string[] = ['routes', 'tcp_routes']

/**
 * The local file with its `routes` and `tcp_routes` replaced by those of a shared document (what
 * `cluster.config_key` holds in etcd, or what `portico config push` sends). Validated exactly like
 * a file, and each problem located in the document it comes from: `sharedName:LINE:COL` for the
 * routes, the local file for the rest. A key the shared document may not set is an error.
 */
export async function loadWithShared (text: string, file: string, sharedText: string, sharedName: string, opts: { files?: boolean } = {}): Promise<Config> {
  const local = document(text)
  const shared = document(sharedText)
  for (const [d, name] of [[local, file], [shared, sharedName]] as const) {
    const e = d.doc.errors[0]
    if (e !== undefined) throw new ConfigError([{ file: name, ...d.at(e.pos[0]), key: '', message: e.message.split('\n')[0] ?? e.message }])
  }
  const sharedJs: unknown = shared.doc.toJS() ?? {}
  if (typeof sharedJs !== 'object' || sharedJs === null || Array.isArray(sharedJs)) {
    throw new ConfigError([{ file: sharedName, line: 1, col: 1, key: '', message: 'expected a mapping with routes and tcp_routes' }])
  }
  const foreign = Object.keys(sharedJs).filter(k => !SHARED_KEYS.includes(k))
  if (foreign.length > 0) {
    throw new ConfigError(foreign.map(k => ({
      file: sharedName, ...shared.at(keyNodeOf(shared.doc.contents ?? undefined, k)?.range?.[0] ?? 0), key: k,
      message: `only ${SHARED_KEYS.join(' and ')} come from the shared config; ${k} stays in the local file`
    })))
  }
  const localJs = (local.doc.toJS() ?? {}) as Record<string, unknown>
  const merged: Record<string, unknown> = { ...localJs, routes: undefined, tcp_routes: undefined, ...sharedJs }
  for (const k of SHARED_KEYS) if (merged[k] === undefined) delete merged[k]
  const pick = (path: PropertyKey[]): [Located, string] => SHARED_KEYS.includes(String(path[0])) ? [shared, sharedName] : [local, file]
  const result = configSchema.safeParse(merged)
  if (!result.success) {
    throw new ConfigError(sorted(result.error.issues.map(issue => {
      const [d, name] = pick(issue.path as PropertyKey[])
      return locateIssue(issue, d.doc, name, d.at)
    })))
  }
  const config = resolvePaths(result.data, dirname(resolve(file)))
  if (opts.files === true) {
    const problems = await checkFiles(config)
    if (problems.length > 0) {
      throw new ConfigError(sorted(problems.map(p => {
        const [d, name] = pick(p.path)
        return { file: name, ...d.at(nearestNode(d.doc, p.path)?.range?.[0] ?? 0), key: formatPath(p.path), message: p.message }
      })))
    }
  }
  return config
}
