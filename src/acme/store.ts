import { access, constants, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { join } from 'node:path'

/**
 * Certificates in certbot's layout, `<dir>/live/<name>/{fullchain,privkey,chain,cert}.pem`, so
 * an existing certbot host can be pointed at its /etc/letsencrypt as is. Writes are atomic
 * (temp + rename, key 0600); both write and load verify that the key matches the leaf and that
 * the chain is complete (each certificate issued by the next).
 */
export interface StoredCertificate {
  name: string
  fullchainFile: string
  keyFile: string
  notBefore: Date
  notAfter: Date
  serial: string
  issuer: string
}

export function liveDir (root: string, name: string): string { return join(root, 'live', name) }

export async function writeCertificate (root: string, name: string, fullchain: string, key: string): Promise<StoredCertificate> {
  const info = verify(name, fullchain, key)
  const dir = liveDir(root, name)
  await mkdir(dir, { recursive: true, mode: 0o700 }).catch(async (err: NodeJS.ErrnoException) => {
    // Recursive mkdir on a read-only file system reports ENOENT; name the real reason.
    await access(root, constants.W_OK).catch((why: NodeJS.ErrnoException) => { throw new Error(`certificate store ${root} is not writable (${why.code ?? why.message})`) })
    throw err
  })
  const certs = splitPem(fullchain)
  const files: Array<[string, string, number]> = [
    ['privkey.pem', key, 0o600], ['cert.pem', certs[0] ?? '', 0o644], ['chain.pem', certs.slice(1).join(''), 0o644], ['fullchain.pem', fullchain, 0o644]
  ]
  // The key goes first and fullchain last: a reader that sees the new fullchain also sees its key.
  for (const [file, data, mode] of files) {
    const tmp = join(dir, `.${file}.${process.pid}.tmp`)
    await writeFile(tmp, data, { mode })
    await rename(tmp, join(dir, file))
  }
  return { ...info, fullchainFile: join(dir, 'fullchain.pem'), keyFile: join(dir, 'privkey.pem') }
}

export async function readCertificate (root: string, name: string): Promise<StoredCertificate | undefined> {
  const dir = liveDir(root, name)
  let fullchain: string
  let key: string
  try {
    [fullchain, key] = await Promise.all([readFile(join(dir, 'fullchain.pem'), 'utf8'), readFile(join(dir, 'privkey.pem'), 'utf8')])
  } catch {
    return undefined
  }
  return { ...verify(name, fullchain, key), fullchainFile: join(dir, 'fullchain.pem'), keyFile: join(dir, 'privkey.pem') }
}

function verify (name: string, fullchain: string, key: string): Omit<StoredCertificate, 'fullchainFile' | 'keyFile'> {
  const certs = splitPem(fullchain).map(p => new X509Certificate(p))
  const leaf = certs[0]
  if (leaf === undefined) throw new Error(`${name}: no certificate in the chain`)
  if (!leaf.checkPrivateKey(createPrivateKey(key))) throw new Error(`${name}: the private key does not match the certificate`)
  for (let i = 0; i + 1 < certs.length; i++) {
    // Names alone can match across CAs; the signature decides.
    if (!certs[i]!.checkIssued(certs[i + 1]!) || !certs[i]!.verify(certs[i + 1]!.publicKey)) throw new Error(`${name}: incomplete chain (certificate ${i} is not issued by certificate ${i + 1})`)
  }
  return { name, notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo), serial: leaf.serialNumber, issuer: leaf.issuer.replace(/\n/g, ', ') }
}

function splitPem (pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)?.map(p => p.endsWith('\n') ? p : `${p}\n`) ?? []
}
