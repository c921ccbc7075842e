/** Publishes and removes `_acme-challenge` TXT records for DNS-01. */
export interface DnsProvider {
  readonly name: string
  present (fqdn: string, value: string): Promise<void>
  cleanup (fqdn: string, value: string): Promise<void>
}
