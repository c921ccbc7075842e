import tls from 'node:tls'

export interface ServedCertificate { serial: string, issuer: string, san: string, notAfter: number }

/** The certificate a TLS listener on loopback presents for `servername` (not verified). */
export async function servedCertificate (port: number, servername: string, timeoutMs = 5000): Promise<ServedCertificate> {
  return await new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, timeout: timeoutMs }, () => {
      const c = s.getPeerX509Certificate()
      resolve({ serial: c?.serialNumber ?? '', issuer: c?.issuer ?? '', san: c?.subjectAltName ?? '', notAfter: c === undefined ? 0 : Date.parse(c.validTo) })
      s.end()
    })
    s.on('timeout', () => { s.destroy(); reject(new Error('TLS handshake timed out')) })
    s.on('error', reject)
  })
}
