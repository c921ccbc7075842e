import { effectiveClientIp } from '../client-address.js'
import type { IpPolicy } from '../ip-policy.js'
import type { RequestInfo } from '../request-info.js'
import type { GateRequest } from './types.js'

/** The gate facts of a request, whatever carried it (node:http, HTTP/2, the engine). */
export function gateRequestOf (
  req: RequestInfo, url: string, host: string | undefined, proto: 'http' | 'https', requestId: string, trusted: IpPolicy | undefined
): GateRequest {
  return {
    method: req.method,
    url,
    host,
    header: name => req.header(name),
    clientIp: effectiveClientIp(req.peer, req.header('x-forwarded-for'), trusted),
    peerIp: req.peer,
    proto,
    requestId
  }
}
