import type { ChallengeBoard } from '../challenge-board.js'
import type { DnsProvider } from './provider.js'

/** portico's own DNS server answers the TXT records (the zone is delegated to it). */
export function builtinProvider (board: ChallengeBoard): DnsProvider {
  return {
    name: 'builtin',
    present: async (fqdn, value) => { board.addTxt(fqdn, value); await board.settled() },
    cleanup: async (fqdn, value) => { board.removeTxt(fqdn, value) }
  }
}
