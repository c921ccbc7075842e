import type { CertState } from './state-file.js'

/**
 * When to renew: once a third of the lifetime remains (90-day certificates at ~30 days left,
 * 6-day ones at 2), minus up to 1% of the lifetime of jitter so a fleet does not renew in step.
 * Failures back off exponentially from `min` to `max`, but never past the certificate's expiry.
 */
export function renewAt (notBefore: Date, notAfter: Date, random = Math.random): number {
  const lifetime = notAfter.getTime() - notBefore.getTime()
  return notAfter.getTime() - lifetime / 3 - random() * lifetime * 0.01
}

/**
 * The planned renewal of the stored certificate: the CA's window (ARI) when it gave one, else the
 * time drawn once for this certificate (persisted), else a fresh draw (the caller persists it).
 */
export function plannedRenewal (s: CertState, stored: { serial: string, notBefore: Date, notAfter: Date }, random = Math.random): number {
  if (s.ari?.serial === stored.serial) return s.ari.renewAt
  if (s.renewAt?.serial === stored.serial) return s.renewAt.at
  return renewAt(stored.notBefore, stored.notAfter, random)
}

export function retryAt (now: number, failures: number, minMs: number, maxMs: number, notAfter: number | undefined, retryAfterMs?: number): number {
  const backoff = Math.min(maxMs, minMs * 2 ** Math.max(0, failures - 1))
  let at = now + Math.max(backoff, retryAfterMs ?? 0)
  // While the certificate is still valid, keep trying before it lapses.
  if (notAfter !== undefined && notAfter > now && at > notAfter - minMs) at = Math.max(now + minMs, Math.min(at, notAfter - minMs))
  return at
}
