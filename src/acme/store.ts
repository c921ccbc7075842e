import { access, constants, mkdir, readFile, readdir, readlink, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'

/**
 * Certificates in certbot's layout: every issuance is a new version `archive/<name>/{cert,chain,
 * fullchain,privkey}N.pem`, and `live/<name>/*.pem` are relative symlinks to the current version.
 * The archive files are written (and verified) first, the symlinks are switched last, each by an
 * atomic rename: a failure halfway leaves the previous version live, and certbot can take the
 * store back (its renewal conf, when there is one, names the archive directory; we follow it).
 */
export interface StoredCertificate {
  name: string
  fullchainFile: string
  keyFile: string
  /** The PEM text as read: the snapshot uses exactly what was verified (no second read). */
  fullchain: string
  key: string
  notBefore: Date
  notAfter: Date
  serial: string
  issuer: string
  /** certbot's version number N of the archive files (0: plain files, not symlinks). */
  version: number
}

const KINDS = ['cert', 'chain', 'fullchain', 'privkey'] as const

export function liveDir (root: string, name: string): string { return join(root, 'live', name) }

/** The archive directory: certbot's renewal conf decides when it exists (`archive_dir = …`). */
export async function archiveDir (root: string, name: string): Promise<string> {
  const conf = await readFile(join(root, 'renewal', `${name}.conf`), 'utf8').catch(() => '')
  const dir = /^archive_dir\s*=\s*(.+?)\s*$/m.exec(conf)?.[1]
  return dir !== undefined && isAbsolute(dir) ? dir : join(root, 'archive', name)
}

/** Fails (with the reason) when the store cannot take a new version: checked before ordering. */
export async function probeStore (root: string, name: string): Promise<void> {
  for (const dir of [await archiveDir(root, name), liveDir(root, name)]) {
    const probe = join(dir, `.probe.${process.pid}`)
    try {
      await makeDir(root, dir)
      await writeFile(probe, '')
      await unlink(probe)
    } catch (err) {
      throw new Error(`certificate store ${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
    }
  }
}

export async function writeCertificate (root: string, name: string, fullchain: string, key: string): Promise<StoredCertificate> {
  const info = verify(name, fullchain, key)
  const archive = await archiveDir(root, name)
  const live = liveDir(root, name)
  await makeDir(root, archive)
  await makeDir(root, live)
  const version = (await latestVersion(archive)) + 1
  const certs = splitPem(fullchain)
  const data: Record<typeof KINDS[number], [string, number]> = {
    cert: [certs[0] ?? '', 0o644], chain: [certs.slice(1).join(''), 0o644], fullchain: [fullchain, 0o644], privkey: [key, 0o600]
  }
  for (const kind of KINDS) {
    const file = join(archive, `${kind}${version}.pem`)
    const tmp = `${file}.${process.pid}.tmp`
    await writeFile(tmp, data[kind][0], { mode: data[kind][1] })
    await rename(tmp, file)
  }
  // Switch: one atomic rename per link. A reader between two renames sees a mismatched pair,
  // which it refuses (the snapshot keeps what it serves) — never half a file.
  for (const kind of KINDS) {
    const link = join(live, `${kind}.pem`)
    const tmp = join(live, `.${kind}.pem.${process.pid}.tmp`)
    await rm(tmp, { force: true })
    await symlink(relative(live, join(archive, `${kind}${version}.pem`)), tmp)
    await rename(tmp, link)
  }
  return { ...info, fullchain, key, version, fullchainFile: join(live, 'fullchain.pem'), keyFile: join(live, 'privkey.pem') }
}

/** The live pair, verified; undefined when there is none; throws when it is broken. */
export async function readCertificate (root: string, name: string): Promise<StoredCertificate | undefined> {
  const dir = liveDir(root, name)
  const fullchainFile = join(dir, 'fullchain.pem')
  const keyFile = join(dir, 'privkey.pem')
  let fullchain: string
  let key: string
  try {
    [fullchain, key] = await Promise.all([readFile(fullchainFile, 'utf8'), readFile(keyFile, 'utf8')])
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new Error(`${name}: cannot read ${fullchainFile} or ${keyFile}: ${(err as Error).message}`)
  }
  const version = versionOf(await readlink(fullchainFile).catch(() => ''))
  return { ...verify(name, fullchain, key, keyFile), fullchain, key, version, fullchainFile, keyFile }
}

/**
 * What can be served for `name`: the live pair, else (broken live pair, e.g. a key copied over it)
 * the newest archive version that verifies, with the reason the live one was refused.
 */
export async function readServable (root: string, name: string): Promise<{ stored: StoredCertificate | undefined, problem?: string }> {
  try {
    return { stored: await readCertificate(root, name) }
  } catch (err) {
    const problem = (err as Error).message
    const archive = await archiveDir(root, name)
    for (let v = await latestVersion(archive); v >= 1; v--) {
      const fullchainFile = join(archive, `fullchain${v}.pem`)
      const keyFile = join(archive, `privkey${v}.pem`)
      try {
        const [fullchain, key] = await Promise.all([readFile(fullchainFile, 'utf8'), readFile(keyFile, 'utf8')])
        return { stored: { ...verify(name, fullchain, key, keyFile), fullchain, key, version: v, fullchainFile, keyFile }, problem }
      } catch {
        // this version is broken too: try the one before
      }
    }
    return { stored: undefined, problem }
  }
}

async function latestVersion (archive: string): Promise<number> {
  const files = await readdir(archive).catch(() => [] as string[])
  return Math.max(0, ...files.map(versionOf))
}

function versionOf (file: string): number {
  const m = /(?:cert|chain|fullchain|privkey)(\d+)\.pem$/.exec(file)
  return m === null ? 0 : Number(m[1])
}

async function makeDir (root: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 }).catch(async (err: NodeJS.ErrnoException) => {
    // Recursive mkdir on a read-only file system reports ENOENT; name the real reason.
    await access(existingParent(root, dir), constants.W_OK).catch((why: NodeJS.ErrnoException) => {
      throw new Error(`certificate store ${root} is not writable (${why.code ?? why.message})`)
    })
    throw err
  })
}

const existingParent = (root: string, dir: string): string => resolve(dir).startsWith(resolve(root)) ? root : dirname(dir)

export function verify (name: string, fullchain: string, key: string, keyFile?: string): Omit<StoredCertificate, 'fullchainFile' | 'keyFile' | 'fullchain' | 'key' | 'version'> {
  const certs = splitPem(fullchain).map(p => new X509Certificate(p))
  const leaf = certs[0]
  if (leaf === undefined) throw new Error(`${name}: no certificate in the chain`)
  let privateKey
  try {
    privateKey = createPrivateKey(key)
  } catch (err) {
    throw new Error(`${name}: ${keyFile ?? 'the private key'} is not a PEM private key (${(err as Error).message})`)
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new Error(`${name}: the private key does not match the certificate`)
  for (let i = 0; i + 1 < certs.length; i++) {
    // Names alone can match across CAs; the signature decides.
    if (!certs[i]!.checkIssued(certs[i + 1]!) || !certs[i]!.verify(certs[i + 1]!.publicKey)) throw new Error(`${name}: incomplete chain (certificate ${i} is not issued by certificate ${i + 1})`)
  }
  return { name, notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo), serial: leaf.serialNumber, issuer: leaf.issuer.replace(/\n/g, ', ') }
}

function splitPem (pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)?.map(p => p.endsWith('\n') ? p : `${p}\n`) ?? []
}
