import { request } from 'undici'
import type { DnsProvider } from './provider.js'

interface CfResult<T> { success: boolean, errors?: Array<{ message: string }>, result: T }

/** Cloudflare's v4 API with a scoped API token (Zone.DNS:Edit), as certbot-dns-cloudflare uses. */
export function cloudflareProvider (token: string, apiUrl: string): DnsProvider {
  const call = async <T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> => {
    const r = await request(`${apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      headersTimeout: 30_000,
      bodyTimeout: 30_000
    })
    const json = await r.body.json() as CfResult<T>
    if (r.statusCode >= 300 || !json.success) throw new Error(`cloudflare ${method} ${path}: ${r.statusCode} ${json.errors?.map(e => e.message).join('; ') ?? ''}`)
    return json.result
  }
  // The zone is the longest suffix of the name that Cloudflare knows.
  const zoneOf = async (fqdn: string): Promise<string> => {
    const labels = fqdn.replace(/\.$/, '').split('.')
    for (let i = 1; i < labels.length - 1; i++) {
      const zones = await call<Array<{ id: string }>>('GET', `/zones?name=${encodeURIComponent(labels.slice(i).join('.'))}`)
      if (zones[0] !== undefined) return zones[0].id
    }
    throw new Error(`cloudflare: no zone found for ${fqdn}`)
  }
  return {
    name: 'cloudflare',
    async present (fqdn, value) {
      const zone = await zoneOf(fqdn)
      await call('POST', `/zones/${zone}/dns_records`, { type: 'TXT', name: fqdn.replace(/\.$/, ''), content: value, ttl: 120 })
    },
    async cleanup (fqdn, value) {
      const zone = await zoneOf(fqdn)
      const records = await call<Array<{ id: string }>>('GET', `/zones/${zone}/dns_records?type=TXT&name=${encodeURIComponent(fqdn.replace(/\.$/, ''))}&content=${encodeURIComponent(value)}`)
      for (const r of records) await call('DELETE', `/zones/${zone}/dns_records/${r.id}`)
    }
  }
}
