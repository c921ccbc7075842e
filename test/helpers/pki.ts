import forge from 'node-forge'

export interface Pki { caCert: string, cert: string, key: string }

/**
 * A throwaway CA and a server certificate it signs (for a "private cloud" API in tests), so
 * upstream TLS verification is exercised for real: verify on, ca_file pointing at the CA.
 */
export function makePki (names: string[]): Pki {
  const caKeys = forge.pki.rsa.generateKeyPair({ bits: 2048 })
  const ca = forge.pki.createCertificate()
  ca.publicKey = caKeys.publicKey
  ca.serialNumber = '01'
  ca.validity.notBefore = new Date(Date.now() - 60_000)
  ca.validity.notAfter = new Date(Date.now() + 86_400_000)
  const caName = [{ name: 'commonName', value: 'portico test CA' }]
  ca.setSubject(caName)
  ca.setIssuer(caName)
  ca.setExtensions([{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true }])
  ca.sign(caKeys.privateKey, forge.md.sha256.create())
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 })
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = '02'
  cert.validity.notBefore = new Date(Date.now() - 60_000)
  cert.validity.notAfter = new Date(Date.now() + 86_400_000)
  cert.setSubject([{ name: 'commonName', value: names[0] ?? 'localhost' }])
  cert.setIssuer(caName)
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: names.map(n => /^[\d.]+$|:/.test(n) ? { type: 7, ip: n } : { type: 2, value: n }) }
  ])
  cert.sign(caKeys.privateKey, forge.md.sha256.create())
  return { caCert: forge.pki.certificateToPem(ca), cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) }
}
