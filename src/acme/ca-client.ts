import acme from 'acme-client'
import { createHash, createPrivateKey } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

// acme-client as portico uses it: no retries of its own, errors that name what went unanswered,
// and the account key per directory URL.

// acme-client retries failed requests itself (5 times, up to 75 s); the manager's persisted
// backoff (which honours Retry-After) decides instead, so a down CA is reported at once.
const axiosDefaults = acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }
axiosDefaults.acmeSettings.retryMaxAttempts = 0

// acme-client 5.4 hands an error without a response (a timeout, a reset connection) to its status
// check, which then throws "Cannot read properties of undefined": pass such errors on as they are.
type Rejected = (e: unknown) => unknown
const interceptors = (acme.axios.interceptors.response as unknown as { handlers: Array<{ rejected?: Rejected } | null> }).handlers
for (const h of interceptors) {
  const original = h?.rejected
  if (h === null || original === undefined) continue
  h.rejected = async (e: unknown) => (e as { response?: unknown }).response === undefined ? await Promise.reject(e) : original(e)
}

/** Names what a request without an answer was (axios says only "timeout of 30000ms exceeded"). */
export function describe (err: unknown): unknown {
  const e = err as Error & { code?: string, response?: unknown, config?: { url?: string, method?: string } }
  if (e.response !== undefined || e.config === undefined) return err
  const what = `${(e.config.method ?? 'request').toUpperCase()} ${e.config.url ?? ''}`.trim()
  const timedOut = e.code === 'ECONNABORTED' || /timeout/i.test(e.message)
  return new Error(timedOut ? `the CA did not answer ${what} within the request timeout (${e.message})` : `${what}: ${e.code ?? e.message}`)
}

const accountKeys = new Map<string, Promise<Buffer>>()

/** One key per directory URL; created once even when orders for several names start together. */
export async function accountKey (stateDir: string, url: string): Promise<Buffer> {
  const file = join(stateDir, 'acme', 'accounts', `${createHash('sha256').update(url).digest('hex').slice(0, 16)}.key`)
  let key = accountKeys.get(file)
  if (key === undefined) {
    key = readOrCreateKey(file)
    accountKeys.set(file, key)
    // A failure (unreadable, malformed) is retried by the next order, after the operator fixed it.
    key.catch(() => accountKeys.delete(file))
  }
  return await key
}

async function readOrCreateKey (file: string): Promise<Buffer> {
  let key: Buffer
  try {
    key = await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`ACME account key ${file}: ${(err as Error).message}`)
    await mkdir(join(file, '..'), { recursive: true, mode: 0o700 })
    key = await acme.crypto.createPrivateEcdsaKey('P-256')
    await writeFile(file, key, { mode: 0o600, flag: 'wx' })
    return key
  }
  try {
    createPrivateKey(key)
  } catch (err) {
    throw new Error(`ACME account key ${file} is not a PEM private key (${(err as Error).message}); restore it, or remove it to register a new account`)
  }
  return key
}
