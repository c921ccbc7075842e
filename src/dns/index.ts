export { NameRegistry, EMPTY_NAME_TABLE, nameTableFromEntries } from './registry.js'
export type { NameTable, Candidate, RegistryOptions } from './registry.js'
export { claimOf } from './container-names.js'
export type { ContainerFacts, Claim, Role } from './container-names.js'
export { DockerWatcher } from './docker-watcher.js'
export type { WatcherState, WatcherOptions } from './docker-watcher.js'
export type { DnsServerOptions } from './dns-server.js'

/** dns2 loads on first use: worker processes and configs without `dns` never pay for it. */
export async function startDnsServer (opts: import('./dns-server.js').DnsServerOptions): ReturnType<typeof import('./dns-server.js').startDnsServer> {
  return await (await import('./dns-server.js')).startDnsServer(opts)
}
