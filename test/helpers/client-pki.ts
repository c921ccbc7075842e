import forge from 'node-forge'

/** A throwaway CA and a client certificate it signs (clientAuth), for mTLS tests. */
export interface ClientPki { caCert: string, cert: string, key: string }

function keyPair (): forge.pki.rsa.KeyPair { return forge.pki.rsa.generateKeyPair({ bits: 2048 }) }

export function makeClientPki (caName: string, clientName: string): ClientPki {
  const caKeys = keyPair()
  const ca = forge.pki.createCertificate()
  const caSubject = [{ name: 'commonName', value: caName }]
  Object.assign(ca, { publicKey: caKeys.publicKey, serialNumber: '01' })
  ca.validity.notBefore = new Date(Date.now() - 60_000)
  ca.validity.notAfter = new Date(Date.now() + 86_400_000)
  ca.setSubject(caSubject)
  ca.setIssuer(caSubject)
  ca.setExtensions([{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true }])
  ca.sign(caKeys.privateKey, forge.md.sha256.create())
  const keys = keyPair()
  const leaf = forge.pki.createCertificate()
  Object.assign(leaf, { publicKey: keys.publicKey, serialNumber: '02' })
  leaf.validity.notBefore = ca.validity.notBefore
  leaf.validity.notAfter = ca.validity.notAfter
  leaf.setSubject([{ name: 'commonName', value: clientName }])
  leaf.setIssuer(caSubject)
  leaf.setExtensions([{ name: 'basicConstraints', cA: false }, { name: 'extKeyUsage', clientAuth: true }])
  leaf.sign(caKeys.privateKey, forge.md.sha256.create())
  return { caCert: forge.pki.certificateToPem(ca), cert: forge.pki.certificateToPem(leaf), key: forge.pki.privateKeyToPem(keys.privateKey) }
}
