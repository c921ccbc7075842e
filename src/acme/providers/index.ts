import { readFile } from 'node:fs/promises'
import type { AcmeConfig } from '../../config/index.js'
import type { ChallengeBoard } from '../challenge-board.js'
import { parseListenAddress } from '../../util/address.js'
import { builtinProvider } from './builtin.js'
import { cloudflareProvider } from './cloudflare.js'
import { execProvider } from './exec.js'
import { rfc2136Provider } from './rfc2136.js'
import type { DnsProvider } from './provider.js'

/** The DNS-01 providers the config sets up, by name (`builtin` always). */
export async function buildProviders (c: AcmeConfig, board: ChallengeBoard): Promise<Record<string, DnsProvider>> {
  const providers: Record<string, DnsProvider> = { builtin: builtinProvider(board) }
  if (c.cloudflare !== undefined) providers.cloudflare = cloudflareProvider((await readFile(c.cloudflare.token_file, 'utf8')).trim(), c.cloudflare.api_url)
  if (c.exec !== undefined) providers.exec = execProvider(c.exec.command)
  if (c.rfc2136 !== undefined) {
    const hp = parseListenAddress(c.rfc2136.server)!
    providers.rfc2136 = rfc2136Provider({
      host: hp.host,
      port: hp.port,
      zone: c.rfc2136.zone,
      keyName: c.rfc2136.key_name,
      algorithm: c.rfc2136.key_algorithm,
      secret: Buffer.from((await readFile(c.rfc2136.key_secret_file, 'utf8')).trim(), 'base64')
    })
  }
  const r53 = c.route53
  if (r53 !== undefined) {
    // The AWS SDK costs a few hundred ms of CPU to load: only when Route53 is configured.
    const { route53Provider } = await import('./route53.js')
    providers.route53 = route53Provider({
      region: r53.region,
      hostedZoneId: r53.hosted_zone_id?.replace(/^\/hostedzone\//, ''),
      endpoint: r53.endpoint,
      credentials: r53.access_key_id === undefined || r53.secret_access_key_file === undefined
        ? undefined
        : { accessKeyId: r53.access_key_id, secretAccessKey: (await readFile(r53.secret_access_key_file, 'utf8')).trim() }
    })
  }
  return providers
}
