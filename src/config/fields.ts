import { z } from 'zod'
import IPCIDR from 'ip-cidr'
import { isIP } from 'node:net'
import { parseDuration } from '../util/duration.js'
import { parseSize } from '../util/size.js'
import { parseListenAddress } from '../util/address.js'

/** Reusable field types of the config schema; each normalises to what the compiler needs. */

export const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v)
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(v)} (use e.g. 500ms, 10s, 5m, 1h, or seconds as a number)` })
    return z.NEVER
  }
  return ms
})

export const size = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const bytes = parseSize(v)
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: `invalid size ${JSON.stringify(v)} (use e.g. 512, 10k, 64m, 1g)` })
    return z.NEVER
  }
  return bytes
})

export const listenAddress = z.string().refine(v => parseListenAddress(v) !== undefined, {
  message: 'expected HOST:PORT, [IPv6]:PORT or :PORT with a port 0-65535'
})

export const cidr = z.string().transform((v, ctx) => {
  // A bare address is a single-host CIDR, as in nginx's allow directive.
  const withMask = v.includes('/') ? v : `${v}/${isIP(v) === 6 ? 128 : 32}`
  if (!IPCIDR.isValidCIDR(withMask)) {
    ctx.addIssue({ code: 'custom', message: `invalid CIDR ${JSON.stringify(v)}` })
    return z.NEVER
  }
  return withMask
})

/** A port range: 8888, "8000-8999", or "*" for all ports. */
export const portRange = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const text = String(v).trim()
  const m = text === '*' ? ['*', '1', '65535'] : /^(\d{1,5})(?:\s*-\s*(\d{1,5}))?$/.exec(text)
  const lo = m === null ? NaN : Number(m[1])
  const hi = m === null ? NaN : Number(m[2] ?? m[1])
  if (!(lo >= 1 && hi <= 65535 && lo <= hi)) {
    ctx.addIssue({ code: 'custom', message: `invalid port range ${JSON.stringify(v)} (use 8888, "8000-8999" or "*")` })
    return z.NEVER
  }
  return { from: lo, to: hi }
})

export const hostName = z.string().min(1).regex(/^[A-Za-z0-9*.-]+$/, 'expected a host name such as example.org or *.example.org')

/** Where a secret can come from: inline (discouraged) or a file read at load time. */
export const filePath = z.string().min(1)

export const httpStatus = z.number().int().min(100).max(599)
