import bcrypt from 'bcryptjs'
import { dropHeader } from './edits.js'
import { ownRefusal } from './refusal.js'
import { VerifiedCache } from './verified-cache.js'
import type { Gate, GateRequest, Refusal } from './types.js'

export interface BasicAuthConfig {
  realm: string
  /** user name → bcrypt hash */
  users: Record<string, string>
  forward_authorization: boolean
  cache_ttl: number
}

/** Entries of the verified-header cache per route: bounds memory whatever clients send. */
const CACHE_ENTRIES = 1024
/** Distinct verifications in flight per route; more are answered 503 (each costs tens of ms of CPU). */
const MAX_VERIFYING = 16

/**
 * `basic_auth` (RFC 7617). Verification is bcrypt's (bcryptjs, asynchronous: the event loop
 * keeps serving while a hash is computed; its compare is constant-time). An unknown user is
 * verified against a configured hash too, so the answer's timing does not tell which names
 * exist. Successes are cached briefly (VerifiedCache); failures never are.
 */
export function basicAuthGate (c: BasicAuthConfig): Gate {
  const users = new Map(Object.entries(c.users))
  // The costliest configured hash: an unknown name costs as much as the slowest real one.
  const dummy = [...users.values()].reduce((a, b) => costOf(b) > costOf(a) ? b : a)
  const cache = new VerifiedCache(c.cache_ttl, CACHE_ENTRIES)
  const verifying = new Map<string, Promise<string | undefined>>()
  const challenge: ReadonlyArray<[string, string]> = [['www-authenticate', `Basic realm="${c.realm.replace(/["\\]/g, '\\$&')}", charset="UTF-8"`]]
  const refuse = (req: GateRequest, reason: string): Refusal => ownRefusal(req, 401, reason, challenge)
  return async (req, edits) => {
    const header = req.header('authorization')
    const creds = header === undefined ? undefined : parseBasic(header)
    if (creds === undefined) return refuse(req, 'authentication required')
    const key = VerifiedCache.key(header as string)
    let user = cache.get(key)
    if (user === undefined) {
      // A browser opening a page sends the same new credentials on many requests at once: one
      // verification serves them all. Distinct ones are bounded, so guessing cannot take every CPU.
      let pending = verifying.get(key)
      if (pending === undefined) {
        if (verifying.size >= MAX_VERIFYING) return ownRefusal(req, 503, 'too many password checks in progress', [['retry-after', '1']])
        const hash = users.get(creds.user)
        pending = bcrypt.compare(creds.password, hash ?? dummy).then(ok => ok && hash !== undefined ? creds.user : undefined)
          .finally(() => verifying.delete(key))
        verifying.set(key, pending)
      }
      user = await pending
      if (user === undefined) return refuse(req, 'wrong user name or password')
      cache.set(key, user)
    }
    edits.user = user
    if (!c.forward_authorization) dropHeader(edits, 'authorization')
    return undefined
  }
}

/** `Basic base64(user:password)`; undefined for any other scheme or a malformed value. */
export function parseBasic (header: string): { user: string, password: string } | undefined {
  const m = /^basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header)
  if (m === null) return undefined
  const text = Buffer.from(m[1] as string, 'base64').toString('utf8')
  const colon = text.indexOf(':')
  if (colon < 0) return undefined
  return { user: text.slice(0, colon), password: text.slice(colon + 1) }
}

function costOf (hash: string): number {
  return Number(hash.slice(4, 6)) || 0
}
