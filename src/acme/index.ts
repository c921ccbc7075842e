// Heavy dependencies (acme-client, node-forge, dns2) load on first use: worker processes and
// configs without ACME never pay their memory and start-up time.
export type { AcmeManager, CertStatus, ManagerOptions, RenewResult } from './manager.js'
export { ChallengeBoard } from './challenge-board.js'
export { readCertificate, readServable, writeCertificate, liveDir, probeStore } from './store.js'
export type { StoredCertificate } from './store.js'
export { renewAt, retryAt, plannedRenewal } from './schedule.js'
export { loadState, emptyState } from './state-file.js'
export type { RenewalWindow } from './ari.js'

export async function loadAcmeManager (): Promise<typeof import('./manager.js').AcmeManager> {
  return (await import('./manager.js')).AcmeManager
}

export async function queryTxt (server: string, fqdn: string): Promise<string[]> {
  return await (await import('./propagation.js')).queryTxt(server, fqdn)
}
