import { X509Certificate, createPrivateKey } from 'node:crypto'
import { access, constants, readFile, stat } from 'node:fs/promises'
import type { Config } from './schema.js'

/** A problem found in a file the config names, at the key that names it. */
export interface FileProblem { path: Array<string | number>, message: string }

/**
 * What `run` would trip over in the files the config names, checked without binding anything:
 * certificates parse and match their keys, CA bundles parse, secrets are readable and not empty,
 * the exec hook is executable. `check`, `run` and reloads all call it, so `check` passing means
 * `run` accepts the file.
 */
export async function checkFiles (c: Config): Promise<FileProblem[]> {
  const checks: Array<Promise<FileProblem | undefined>> = []
  c.tls.certificates.forEach((cert, i) => checks.push(certificatePair(cert.cert_file, cert.key_file, ['tls', 'certificates', i])))
  c.routes.forEach((r, i) => {
    for (const kind of ['uap', 'proxy', 'cors_proxy', 'docker'] as const) {
      const ca = r[kind]?.tls.ca_file
      if (ca !== undefined) checks.push(caBundle(ca, ['routes', i, kind, 'tls', 'ca_file']))
    }
    if (r.static !== undefined) checks.push(directory(r.static.root, ['routes', i, 'static', 'root']))
    r.error_pages?.forEach((p, j) => { if (p.file !== undefined) checks.push(readable(p.file, ['routes', i, 'error_pages', j, 'file'])) })
  })
  c.listeners.forEach((l, i) => { if (l.client_ca_file !== undefined) checks.push(caBundle(l.client_ca_file, ['listeners', i, 'client_ca_file'])) })
  if (c.admin?.token_file !== undefined) checks.push(secret(c.admin.token_file, ['admin', 'token_file']))
  const a = c.acme
  if (a !== undefined) {
    if (a.ca_file !== undefined) checks.push(caBundle(a.ca_file, ['acme', 'ca_file']))
    if (a.eab !== undefined) checks.push(secret(a.eab.hmac_key_file, ['acme', 'eab', 'hmac_key_file']))
    if (a.cloudflare !== undefined) checks.push(secret(a.cloudflare.token_file, ['acme', 'cloudflare', 'token_file']))
    if (a.rfc2136 !== undefined) checks.push(secret(a.rfc2136.key_secret_file, ['acme', 'rfc2136', 'key_secret_file']))
    if (a.exec !== undefined) checks.push(executable(a.exec.command, ['acme', 'exec', 'command']))
    if (a.route53?.secret_access_key_file !== undefined) checks.push(secret(a.route53.secret_access_key_file, ['acme', 'route53', 'secret_access_key_file']))
  }
  const k = c.cluster
  if (k !== undefined) {
    if (k.tls?.ca_file !== undefined) checks.push(caBundle(k.tls.ca_file, ['cluster', 'tls', 'ca_file']))
    if (k.tls?.cert_file !== undefined && k.tls.key_file !== undefined) checks.push(certificatePair(k.tls.cert_file, k.tls.key_file, ['cluster', 'tls']))
    if (k.auth !== undefined) checks.push(secret(k.auth.password_file, ['cluster', 'auth', 'password_file']))
    if (k.secret_file !== undefined) checks.push(secret(k.secret_file, ['cluster', 'secret_file']))
  }
  return (await Promise.all(checks)).filter(p => p !== undefined)
}

async function read (file: string, path: FileProblem['path']): Promise<string | FileProblem> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    return { path, message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }
  }
}

async function certificatePair (certFile: string, keyFile: string, at: FileProblem['path']): Promise<FileProblem | undefined> {
  const cert = await read(certFile, [...at, 'cert_file'])
  if (typeof cert !== 'string') return cert
  const key = await read(keyFile, [...at, 'key_file'])
  if (typeof key !== 'string') return key
  let x509: X509Certificate
  try { x509 = new X509Certificate(cert) } catch (err) { return { path: [...at, 'cert_file'], message: `${certFile} is not a PEM certificate: ${(err as Error).message}` } }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) return { path: [...at, 'key_file'], message: `${keyFile} does not match the certificate ${certFile}` }
  } catch (err) {
    return { path: [...at, 'key_file'], message: `${keyFile} is not a PEM private key: ${(err as Error).message}` }
  }
  return undefined
}

async function caBundle (file: string, path: FileProblem['path']): Promise<FileProblem | undefined> {
  const text = await read(file, path)
  if (typeof text !== 'string') return text
  try { new X509Certificate(text) } catch (err) { return { path, message: `${file} holds no PEM certificate: ${(err as Error).message}` } }
  return undefined
}

async function secret (file: string, path: FileProblem['path']): Promise<FileProblem | undefined> {
  const text = await read(file, path)
  if (typeof text !== 'string') return text
  return text.trim() === '' ? { path, message: `${file} is empty` } : undefined
}

async function readable (file: string, path: FileProblem['path']): Promise<FileProblem | undefined> {
  const text = await read(file, path)
  return typeof text === 'string' ? undefined : text
}

async function directory (dir: string, path: FileProblem['path']): Promise<FileProblem | undefined> {
  try {
    if ((await stat(dir)).isDirectory()) return undefined
    return { path, message: `${dir} is not a directory` }
  } catch (err) {
    return { path, message: `cannot read ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }
  }
}

async function executable (file: string, path: FileProblem['path']): Promise<FileProblem | undefined> {
  try {
    await access(file, constants.X_OK)
    return undefined
  } catch (err) {
    return { path, message: `${file} is not executable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }
  }
}
