import type Forge from 'node-forge'
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { join } from 'node:path'
import { parseCertificate } from './certificate.js'
import { writeFileAtomic } from './pem-files.js'

const RENEW_BEFORE_MS = 30 * 86_400_000

export interface SelfSigned { certFile: string, keyFile: string, generated: boolean }

/**
 * A self-signed certificate for demos and tests, generated with node-forge into
 * `<stateDir>/self-signed/` and reused while it covers the names and is not near expiry.
 */
export async function ensureSelfSigned (stateDir: string, names: readonly string[], now = new Date()): Promise<SelfSigned> {
  const dir = join(stateDir, 'self-signed')
  const certFile = join(dir, 'cert.pem')
  const keyFile = join(dir, 'key.pem')
  const wanted = names.map(n => n.toLowerCase())
  try {
    const existing = parseCertificate(await readFile(certFile, 'utf8'), await readFile(keyFile, 'utf8'), certFile, keyFile)
    const covers = wanted.every(n => existing.names.includes(n))
    if (covers && existing.notAfter.getTime() - now.getTime() > RENEW_BEFORE_MS) return { certFile, keyFile, generated: false }
  } catch {
    // missing or unreadable: generate below
  }
  // node-forge loads only when a certificate is actually generated (not in every worker).
  const { default: forge } = await import('node-forge')
  const { cert, key } = generate(forge, wanted, now)
  await writeFileAtomic(keyFile, key, 0o600)
  await writeFileAtomic(certFile, cert, 0o644)
  return { certFile, keyFile, generated: true }
}

function generate (forge: typeof Forge, names: readonly string[], now: Date): { cert: string, key: string } {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 })
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = '01' + forge.util.bytesToHex(forge.random.getBytesSync(15))
  cert.validity.notBefore = new Date(now.getTime() - 60_000)
  cert.validity.notAfter = new Date(now.getTime() + 365 * 86_400_000)
  const subject = [{ name: 'commonName', value: names[0] ?? 'localhost' }, { name: 'organizationName', value: 'portico self-signed' }]
  cert.setSubject(subject)
  cert.setIssuer(subject)
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: names.map(n => isIP(n) === 0 ? { type: 2, value: n } : { type: 7, ip: n }) }
  ])
  cert.sign(keys.privateKey, forge.md.sha256.create())
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) }
}
