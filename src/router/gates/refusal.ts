import { errorPage } from '../error-response.js'
import type { HeaderPairs } from '../reply.js'
import type { GateRequest, Refusal } from './types.js'

/** portico's own error answer (JSON or text by Accept, with the request id), as a gate's refusal. */
export function ownRefusal (req: GateRequest, status: number, reason: string, extra: HeaderPairs = []): Refusal {
  const page = errorPage(status, reason, req.requestId, req.header('accept'))
  return {
    reason,
    answer: {
      status,
      headers: [['content-type', page.type], ['cache-control', 'no-store'], ['x-request-id', req.requestId], ...extra],
      body: page.body
    }
  }
}
