import { randomBytes } from 'node:crypto'

/** Short unique ids: a per-process random prefix plus a counter (no crypto call per request). */
const prefix = randomBytes(4).toString('hex')
let counter = 0

export function nextRequestId (): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER
  return `${prefix}-${counter.toString(36)}`
}
