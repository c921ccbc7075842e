import { readFile } from 'node:fs/promises'
import { X509Certificate, createPrivateKey } from 'node:crypto'

/** A certificate chain + key loaded from PEM files, with what SNI and status pages need. */
export interface LoadedCertificate {
  cert: string
  key: string
  /** Lower-case DNS names (SANs, else CN); wildcards kept as `*.example.org`. */
  names: string[]
  notAfter: Date
  serial: string
  issuer: string
  certFile: string
  keyFile: string
  /** Set for certificates from the ACME store: the acme.certificates[].name. */
  acmeName?: string
}

export async function loadCertificate (certFile: string, keyFile: string): Promise<LoadedCertificate> {
  const [cert, key] = await Promise.all([
    readFile(certFile, 'utf8').catch((err: Error) => { throw new Error(`cannot read certificate ${certFile}: ${err.message}`) }),
    readFile(keyFile, 'utf8').catch((err: Error) => { throw new Error(`cannot read private key ${keyFile}: ${err.message}`) })
  ])
  return parseCertificate(cert, key, certFile, keyFile)
}

export function parseCertificate (cert: string, key: string, certFile: string, keyFile: string): LoadedCertificate {
  let leaf: X509Certificate
  try {
    leaf = new X509Certificate(cert)
  } catch (err) {
    throw new Error(`${certFile}: not a PEM certificate (${(err as Error).message})`)
  }
  let privateKey
  try {
    privateKey = createPrivateKey(key)
  } catch (err) {
    throw new Error(`${keyFile}: not a PEM private key (${(err as Error).message})`)
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new Error(`${keyFile} does not match the certificate in ${certFile}`)
  return {
    cert,
    key,
    names: namesOf(leaf),
    notAfter: new Date(leaf.validTo),
    serial: leaf.serialNumber,
    issuer: leaf.issuer.replace(/\n/g, ', '),
    certFile,
    keyFile
  }
}

function namesOf (leaf: X509Certificate): string[] {
  const san = leaf.subjectAltName
  const names = san === undefined
    ? []
    : san.split(', ').flatMap(entry => entry.startsWith('DNS:') ? [entry.slice(4)] : entry.startsWith('IP Address:') ? [entry.slice(11)] : [])
  if (names.length === 0) {
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(leaf.subject)?.[1]
    if (cn !== undefined) names.push(cn)
  }
  return names.map(n => n.toLowerCase().replace(/\.$/, ''))
}
