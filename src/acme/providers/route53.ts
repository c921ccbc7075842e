import { ChangeResourceRecordSetsCommand, GetChangeCommand, ListHostedZonesByNameCommand, Route53Client } from '@aws-sdk/client-route-53'
import type { DnsProvider } from './provider.js'

export interface Route53Options {
  /** The signing region (Route53 is global; us-east-1 unless in another partition). */
  region: string
  /** The hosted zone; undefined: the longest suffix of each name that ListHostedZonesByName knows. */
  hostedZoneId: string | undefined
  /** Undefined: the SDK's default chain (AWS_ACCESS_KEY_ID/…, the shared credentials file, instance roles). */
  credentials: { accessKeyId: string, secretAccessKey: string, sessionToken?: string } | undefined
  /** Another API endpoint (tests, or a VPC endpoint); undefined: AWS's. */
  endpoint: string | undefined
  /** GetChange polling until the change is INSYNC on all Route53 servers. */
  pollMs?: number
  syncTimeoutMs?: number
}

const TTL = 60

/**
 * DNS-01 through Route53 with the official AWS SDK v3 client (SigV4 signing, retries). One TXT
 * record set per name holds every value portico has on offer (the wildcard and the apex of one
 * order share `_acme-challenge.<name>`), so changes to one name are serialised and each UPSERT
 * carries all of them; the last cleanup DELETEs the set. Each change is waited for until INSYNC.
 */
export function route53Provider (o: Route53Options): DnsProvider {
  const client = new Route53Client({
    region: o.region,
    maxAttempts: 3,
    ...(o.endpoint === undefined ? {} : { endpoint: o.endpoint }),
    ...(o.credentials === undefined ? {} : { credentials: o.credentials }),
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 30_000 }
  })
  const values = new Map<string, string[]>()
  const queues = new Map<string, Promise<void>>()
  const zones = new Map<string, string>()

  const zoneOf = async (fqdn: string): Promise<string> => {
    if (o.hostedZoneId !== undefined) return o.hostedZoneId
    const labels = fqdn.replace(/\.$/, '').toLowerCase().split('.')
    for (let i = 1; i < labels.length - 1; i++) {
      const name = `${labels.slice(i).join('.')}.`
      const known = zones.get(name)
      if (known !== undefined) return known
      const r = await client.send(new ListHostedZonesByNameCommand({ DNSName: name, MaxItems: 1 }))
      // The listing starts at `name`: its first zone is another one when `name` has none.
      const zone = r.HostedZones?.find(z => z.Name?.toLowerCase() === name && z.Config?.PrivateZone !== true)
      if (zone?.Id !== undefined) {
        const id = zone.Id.replace(/^\/hostedzone\//, '')
        zones.set(name, id)
        return id
      }
    }
    throw new Error(`route53: no public hosted zone found for ${fqdn}`)
  }

  const waitInSync = async (changeId: string | undefined): Promise<void> => {
    if (changeId === undefined) return
    const deadline = Date.now() + (o.syncTimeoutMs ?? 180_000)
    for (;;) {
      const r = await client.send(new GetChangeCommand({ Id: changeId }))
      if (r.ChangeInfo?.Status === 'INSYNC') return
      if (Date.now() > deadline) throw new Error(`route53: change ${changeId} not INSYNC after ${o.syncTimeoutMs ?? 180_000} ms`)
      await new Promise(resolve => setTimeout(resolve, o.pollMs ?? 2000))
    }
  }

  /** Sets the name's record set to `next` values (DELETE of `previous` when none are left). */
  const publish = async (fqdn: string, previous: readonly string[], next: readonly string[]): Promise<void> => {
    const name = fqdn.endsWith('.') ? fqdn : `${fqdn}.`
    const set = (vals: readonly string[]): { Name: string, Type: 'TXT', TTL: number, ResourceRecords: Array<{ Value: string }> } =>
      ({ Name: name, Type: 'TXT', TTL, ResourceRecords: vals.map(v => ({ Value: `"${v}"` })) })
    const change = next.length > 0 ? { Action: 'UPSERT' as const, ResourceRecordSet: set(next) } : { Action: 'DELETE' as const, ResourceRecordSet: set(previous) }
    const r = await client.send(new ChangeResourceRecordSetsCommand({
      HostedZoneId: await zoneOf(name),
      ChangeBatch: { Comment: 'portico ACME DNS-01', Changes: [change] }
    }))
    await waitInSync(r.ChangeInfo?.Id)
  }

  /** Runs changes to one name one after the other (each needs the values the previous one left). */
  const serial = async (fqdn: string, change: (current: readonly string[]) => string[] | undefined): Promise<void> => {
    const key = fqdn.toLowerCase().replace(/\.$/, '')
    const run = (queues.get(key) ?? Promise.resolve()).catch(() => {}).then(async () => {
      const current = values.get(key) ?? []
      const next = change(current)
      if (next === undefined) return
      await publish(fqdn, current, next)
      if (next.length === 0) values.delete(key); else values.set(key, next)
    })
    queues.set(key, run)
    try { await run } finally { if (queues.get(key) === run) queues.delete(key) }
  }

  return {
    name: 'route53',
    present: async (fqdn, value) => { await serial(fqdn, cur => cur.includes(value) ? undefined : [...cur, value]) },
    cleanup: async (fqdn, value) => { await serial(fqdn, cur => cur.includes(value) ? cur.filter(v => v !== value) : undefined) }
  }
}
