import forge from 'node-forge'
import { X509Certificate } from 'node:crypto'
import { Agent, request } from 'undici'

/**
 * ACME Renewal Information (RFC 9773): the CA suggests a renewal window per certificate, e.g. to
 * move renewals forward before a mass revocation. The certificate is identified by
 * base64url(authority key identifier) "." base64url(DER serial number bytes).
 */
export function ariCertId (certPem: string): string {
  const leaf = new X509Certificate(certPem)
  const aki = authorityKeyId(Buffer.from(leaf.raw))
  if (aki === undefined) throw new Error('certificate has no authority key identifier')
  let serial = Buffer.from(leaf.serialNumber.length % 2 === 0 ? leaf.serialNumber : `0${leaf.serialNumber}`, 'hex')
  // DER integers are signed: a high first bit needs a leading zero byte.
  if ((serial[0] ?? 0) >= 0x80) serial = Buffer.concat([Buffer.from([0]), serial])
  return `${aki.toString('base64url')}.${serial.toString('base64url')}`
}

/** keyIdentifier of the authorityKeyIdentifier extension (OID 2.5.29.35), read from the DER. */
function authorityKeyId (der: Buffer): Buffer | undefined {
  const cert = forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary')))
  const tbs = (cert.value as forge.asn1.Asn1[])[0]
  const explicit = (tbs?.value as forge.asn1.Asn1[] | undefined)?.find(n => n.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && n.type === 3)
  const extensions = (explicit?.value as forge.asn1.Asn1[] | undefined)?.[0]?.value as forge.asn1.Asn1[] | undefined
  for (const ext of extensions ?? []) {
    const parts = ext.value as forge.asn1.Asn1[]
    if (forge.asn1.derToOid(parts[0]!.value as string) !== '2.5.29.35') continue
    const octets = parts[parts.length - 1]!.value as string
    const aki = forge.asn1.fromDer(forge.util.createBuffer(octets))
    const keyId = (aki.value as forge.asn1.Asn1[]).find(n => n.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && n.type === 0)
    return keyId === undefined ? undefined : Buffer.from(keyId.value as string, 'binary')
  }
  return undefined
}

export interface RenewalWindow { start: number, end: number, retryAfterMs: number | undefined }

/** Asks the CA's renewalInfo endpoint (if its directory has one) for the certificate's window. */
export async function fetchRenewalWindow (directoryUrl: string, certPem: string, ca?: string, timeoutMs = 15_000): Promise<RenewalWindow | undefined> {
  const dispatcher = new Agent({ connect: { timeout: timeoutMs, ...(ca === undefined ? {} : { ca }) } })
  try {
    const dir = await request(directoryUrl, { dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
    const directory = await dir.body.json() as { renewalInfo?: string }
    if (directory.renewalInfo === undefined) return undefined
    const r = await request(`${directory.renewalInfo.replace(/\/$/, '')}/${ariCertId(certPem)}`, { dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
    const body = await r.body.json() as { suggestedWindow?: { start?: string, end?: string } }
    const start = Date.parse(body.suggestedWindow?.start ?? '')
    const end = Date.parse(body.suggestedWindow?.end ?? '')
    if (r.statusCode !== 200 || !Number.isFinite(start) || !Number.isFinite(end) || end < start) return undefined
    const ra = Number(r.headers['retry-after'])
    return { start, end, retryAfterMs: Number.isFinite(ra) ? ra * 1000 : undefined }
  } finally {
    await dispatcher.close()
  }
}
