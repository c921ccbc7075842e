import { compileIpPolicy, type IpPolicy } from '../ip-policy.js'
import { ownRefusal } from './refusal.js'
import type { Gate } from './types.js'

const ANY_PORT = [{ from: 1, to: 65535 }]

/**
 * `client_allow` / `client_deny`: CIDR lists compiled once, checked against the client after
 * trusted-proxy handling. Deny wins: an address in both lists is refused.
 */
export function clientAccessGate (allow: readonly string[] | undefined, deny: readonly string[] | undefined): Gate | undefined {
  if (allow === undefined && deny === undefined) return undefined
  const allowed: IpPolicy | undefined = allow === undefined ? undefined : compileIpPolicy(allow, ANY_PORT)
  const denied: IpPolicy | undefined = deny === undefined ? undefined : compileIpPolicy(deny, ANY_PORT)
  return req => {
    const ip = req.clientIp
    if (denied !== undefined && denied.check(ip, 1) === undefined) return ownRefusal(req, 403, `client address ${ip} is denied (client_deny)`)
    if (allowed !== undefined && allowed.check(ip, 1) !== undefined) return ownRefusal(req, 403, `client address ${ip} is not allowed (client_allow)`)
    return undefined
  }
}
