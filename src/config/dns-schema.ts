import { z } from 'zod'
import { isIP } from 'node:net'
import { cidr, duration, listenAddress, size } from './fields.js'
import { parseListenAddress } from '../util/address.js'

/** A forwarder: an IP address (no name to resolve first) and a real port. */
const upstreamResolver = listenAddress.refine(v => {
  const hp = parseListenAddress(v)
  return hp !== undefined && isIP(hp.host) !== 0 && hp.port !== 0
}, { message: 'expected an upstream resolver as IP:PORT or [IPv6]:PORT' })

/** The `dns` section: the server for the Docker zone and, optionally, forwarding for everything else. */
export const dns = z.strictObject({
  address: listenAddress.default('127.0.0.1:5353'),
  ttl: duration.default(5000),
  rate_limit: z.number().int().min(0).default(1000),
  // Forwarding (issue 24): empty = names outside the zone are REFUSED, as before.
  forwarders: z.array(upstreamResolver).default([]),
  forward_timeout: duration.refine(ms => ms >= 10 && ms <= 60_000, 'between 10ms and 60s').default(2000),
  forward_max_inflight: z.number().int().min(1).max(65_536).default(256),
  allow: z.array(z.union([z.literal('loopback'), z.literal('docker'), cidr])).default(['loopback', 'docker']),
  cache_size: size.default(4 * 1024 * 1024),
  cache_max_ttl: duration.default(86_400_000),
  cache_negative_ttl: duration.default(300_000)
})
