import acme from 'acme-client'
import https from 'node:https'
import { Agent, request } from 'undici'
import { createHash } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { AcmeConfig } from '../config/index.js'
import type { ChallengeBoard } from './challenge-board.js'
import type { DnsProvider } from './providers/provider.js'
import { waitForTxt } from './propagation.js'

type CertConfig = AcmeConfig['certificates'][number]

const PRESETS: Record<string, string> = {
  letsencrypt: acme.directory.letsencrypt.production,
  'letsencrypt-staging': acme.directory.letsencrypt.staging
}

// acme-client retries failed requests itself (5 times, up to 75 s); the manager's persisted
// backoff (which honours Retry-After) decides instead, so a down CA is reported at once.
const axiosDefaults = acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }
axiosDefaults.acmeSettings.retryMaxAttempts = 0

export function directoryUrl (directory: string): string { return PRESETS[directory] ?? directory }

export interface OrderContext {
  config: AcmeConfig
  stateDir: string
  board: ChallengeBoard
  providers: Record<string, DnsProvider>
  log: { info: (o: object, m: string) => void }
}

/**
 * One ACME order with acme-client: account (created once per directory URL, key kept in the
 * state dir), a fresh certificate key (ECDSA P-256 by default), challenges through the board
 * (HTTP-01) or a DNS provider (DNS-01, checked on the authoritative servers before the CA is
 * asked to validate), records removed afterwards — also when the order fails.
 */
export async function obtainCertificate (ctx: OrderContext, cert: CertConfig): Promise<{ fullchain: string, key: string }> {
  const c = ctx.config
  if (c.ca_file !== undefined) {
    // acme-client talks through axios; trust the private CA of a test or internal ACME server.
    acme.axios.defaults.httpsAgent = new https.Agent({ ca: await readFile(c.ca_file) })
  }
  const url = directoryUrl(c.directory)
  await probeDirectory(url, c.ca_file === undefined ? undefined : await readFile(c.ca_file, 'utf8'))
  const client = new acme.Client({
    directoryUrl: url,
    accountKey: await accountKey(ctx.stateDir, url),
    ...(c.eab === undefined ? {} : { externalAccountBinding: { kid: c.eab.kid, hmacKey: (await readFile(c.eab.hmac_key_file, 'utf8')).trim() } })
  })
  const key = c.key_type === 'ecdsa-p256' ? await acme.crypto.createPrivateEcdsaKey('P-256') : await acme.crypto.createPrivateRsaKey(c.key_type === 'rsa-4096' ? 4096 : 2048)
  const [, csr] = await acme.crypto.createCsr({ commonName: cert.domains.find(d => !d.startsWith('*.')) ?? cert.domains[0], altNames: cert.domains }, key)
  const provider = cert.provider === 'builtin' ? ctx.providers.builtin : ctx.providers[cert.provider]
  const fullchain = await client.auto({
    csr,
    email: c.email,
    termsOfServiceAgreed: true,
    challengePriority: [cert.challenge],
    skipChallengeVerification: true,
    challengeCreateFn: async (authz, challenge, keyAuthorization) => {
      if (challenge.type === 'http-01') {
        ctx.board.setHttp(challenge.token, keyAuthorization)
        await ctx.board.settled()
        return
      }
      const fqdn = `_acme-challenge.${authz.identifier.value}`
      await provider!.present(fqdn, keyAuthorization)
      ctx.log.info({ name: cert.name, fqdn, provider: provider!.name }, 'acme: TXT record presented')
      await waitForTxt(fqdn, keyAuthorization, {
        nameservers: cert.provider === 'rfc2136' && c.propagation.nameservers.length === 0 && c.rfc2136 !== undefined ? [c.rfc2136.server] : c.propagation.nameservers,
        delayMs: c.propagation.delay,
        intervalMs: c.propagation.interval,
        timeoutMs: c.propagation.timeout
      })
    },
    challengeRemoveFn: async (authz, challenge, keyAuthorization) => {
      if (challenge.type === 'http-01') { ctx.board.deleteHttp(challenge.token); return }
      await provider!.cleanup(`_acme-challenge.${authz.identifier.value}`, keyAuthorization)
    }
  })
  return { fullchain, key: key.toString() }
}

/**
 * acme-client reports a CA that cannot be reached as an internal TypeError; ask the directory
 * ourselves first so the error (and the status page) says what is wrong.
 */
async function probeDirectory (url: string, ca: string | undefined): Promise<void> {
  const dispatcher = new Agent({ connect: { timeout: 10_000, ...(ca === undefined ? {} : { ca }) } })
  try {
    const r = await request(url, { dispatcher, headersTimeout: 15_000, bodyTimeout: 15_000 })
    await r.body.dump()
    if (r.statusCode >= 400) throw new Error(`ACME directory ${url} answered ${r.statusCode}`)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.message.startsWith('ACME directory')) throw e
    throw new Error(`ACME directory ${url} unreachable: ${e.code ?? e.message}`)
  } finally {
    await dispatcher.close()
  }
}

async function accountKey (stateDir: string, url: string): Promise<Buffer> {
  const dir = join(stateDir, 'acme', 'accounts')
  const file = join(dir, `${createHash('sha256').update(url).digest('hex').slice(0, 16)}.key`)
  try {
    return await readFile(file)
  } catch {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const key = await acme.crypto.createPrivateEcdsaKey('P-256')
    await writeFile(file, key, { mode: 0o600 })
    return key
  }
}
