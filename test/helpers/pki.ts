import forge from 'node-forge'

export interface Pki { caCert: string, cert: string, key: string }

type Attrs = forge.pki.CertificateField[]

function issue (subject: Attrs, issuer: Attrs, signer: forge.pki.rsa.PrivateKey | undefined, serial: string, extensions: object[]): { cert: forge.pki.Certificate, key: forge.pki.rsa.PrivateKey } {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 })
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = serial
  cert.validity.notBefore = new Date(Date.now() - 60_000)
  cert.validity.notAfter = new Date(Date.now() + 86_400_000)
  cert.setSubject(subject)
  cert.setIssuer(issuer)
  cert.setExtensions(extensions)
  cert.sign(signer ?? keys.privateKey, forge.md.sha256.create())
  return { cert, key: keys.privateKey }
}

/**
 * A throwaway CA and a server certificate it signs (for a "private cloud" API in tests), so
 * upstream TLS verification is exercised for real: verify on, ca_file pointing at the CA.
 */
export function makePki (names: string[]): Pki {
  const caName = [{ name: 'commonName', value: 'portico test CA' }]
  const ca = issue(caName, caName, undefined, '01', [{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true }])
  const leaf = issue([{ name: 'commonName', value: names[0] ?? 'localhost' }], caName, ca.key, '02', [
    { name: 'basicConstraints', cA: false },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: names.map(n => /^[\d.]+$|:/.test(n) ? { type: 7, ip: n } : { type: 2, value: n }) }
  ])
  return { caCert: forge.pki.certificateToPem(ca.cert), cert: forge.pki.certificateToPem(leaf.cert), key: forge.pki.privateKeyToPem(leaf.key) }
}
