import acme from 'acme-client'
import https from 'node:https'
import { Agent, request } from 'undici'
import { readFile } from 'node:fs/promises'
import type { AcmeConfig } from '../config/index.js'
import type { ChallengeBoard } from './challenge-board.js'
import type { DnsProvider } from './providers/provider.js'
import { waitForTxt } from './propagation.js'
import { accountKey, describe } from './ca-client.js'

type CertConfig = AcmeConfig['certificates'][number]

const PRESETS: Record<string, string> = {
  letsencrypt: acme.directory.letsencrypt.production,
  'letsencrypt-staging': acme.directory.letsencrypt.staging
}

export function directoryUrl (directory: string): string { return PRESETS[directory] ?? directory }

/** Where `renew --dry-run` orders: the configured staging directory, or Let's Encrypt's for Let's Encrypt. */
export function stagingDirectory (c: AcmeConfig): string | undefined {
  if (c.staging_directory !== undefined) return c.staging_directory
  return directoryUrl(c.directory) === PRESETS.letsencrypt ? 'letsencrypt-staging' : undefined
}

/** Where the DNS-01 TXT record for `domain` goes: its `_acme-challenge` name, or the CNAME target (acme-dns style). */
export function challengeName (cert: CertConfig, domain: string): string {
  return cert.dns_aliases[domain] ?? `_acme-challenge.${domain}`
}

export interface IssuedPair { fullchain: string, key: string }

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
export async function obtainCertificate (ctx: OrderContext, cert: CertConfig): Promise<IssuedPair> {
  const c = ctx.config
  if (c.ca_file !== undefined) {
    // acme-client talks through axios; trust the private CA of a test or internal ACME server.
    acme.axios.defaults.httpsAgent = new https.Agent({ ca: await readFile(c.ca_file) })
  }
  // Every request to the CA has a timeout: a stalled CA must fail the order, not hang it.
  acme.axios.defaults.timeout = c.request_timeout
  const url = directoryUrl(c.directory)
  await probeDirectory(url, c.ca_file === undefined ? undefined : await readFile(c.ca_file, 'utf8'), c.request_timeout)
  const client = new acme.Client({
    directoryUrl: url,
    accountKey: await accountKey(ctx.stateDir, url),
    // Polling for validation and issuance: from 1 s up to 10 s apart (acme-client's 5 to 30 s would
    // outlive the order deadline, and a CA that is slow once should not cost half a minute).
    backoffAttempts: 10,
    backoffMin: 1000,
    backoffMax: 10_000,
    ...(c.eab === undefined ? {} : { externalAccountBinding: { kid: c.eab.kid, hmacKey: (await readFile(c.eab.hmac_key_file, 'utf8')).trim() } })
  })
  const key = c.key_type === 'ecdsa-p256' ? await acme.crypto.createPrivateEcdsaKey('P-256') : await acme.crypto.createPrivateRsaKey(c.key_type === 'rsa-4096' ? 4096 : 2048)
  const [, csr] = await acme.crypto.createCsr({ commonName: cert.domains.find(d => !d.startsWith('*.')) ?? cert.domains[0], altNames: cert.domains }, key)
  const provider = cert.provider === 'builtin' ? ctx.providers.builtin : ctx.providers[cert.provider]
  let fullchain: string
  try {
    fullchain = await client.auto({
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
        const fqdn = challengeName(cert, authz.identifier.value)
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
        await provider!.cleanup(challengeName(cert, authz.identifier.value), keyAuthorization)
      }
    })
  } catch (err) {
    throw describe(err)
  }
  return { fullchain, key: key.toString() }
}

/**
 * acme-client reports a CA that cannot be reached as an internal TypeError; ask the directory
 * ourselves first so the error (and the status page) says what is wrong.
 */
async function probeDirectory (url: string, ca: string | undefined, timeoutMs: number): Promise<void> {
  const dispatcher = new Agent({ connect: { timeout: timeoutMs, ...(ca === undefined ? {} : { ca }) } })
  try {
    const r = await request(url, { dispatcher, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
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
