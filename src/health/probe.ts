import { readFile } from 'node:fs/promises'
import { Agent } from 'undici'
import type { HealthSettings, UpstreamSettings } from '../router/index.js'
import type { Probe, ProbeResult } from './checker.js'

export interface HttpProbe { probe: Probe, close: () => Promise<void> }

/**
 * Probes over HTTP(S) with their own undici agent (not the data plane's pools): connect,
 * headers and body each bounded by the check's timeout, a fresh connection per probe (a
 * member that stopped accepting connections is seen at once), no redirect followed, the
 * route's TLS settings (verification, server name, CA file).
 */
export function httpProbe (h: HealthSettings, up: UpstreamSettings, userAgent: string): HttpProbe {
  let agent: Promise<Agent> | undefined
  const agentFor = async (): Promise<Agent> => {
    const ca = up.caFile === undefined ? undefined : await readFile(up.caFile, 'utf8')
    return new Agent({
      connect: {
        timeout: h.timeoutMs,
        rejectUnauthorized: up.tlsVerify,
        ...(ca === undefined ? {} : { ca }),
        ...(up.serverName === undefined ? {} : { servername: up.serverName })
      },
      headersTimeout: h.timeoutMs,
      bodyTimeout: h.timeoutMs
    })
  }
  const probe = async (origin: string): Promise<ProbeResult> => {
    agent ??= agentFor()
    const dispatcher = await agent
    // origin and path apart: nothing in the path can name another host.
    const res = await dispatcher.request({
      origin,
      path: h.path,
      method: 'GET',
      reset: true,
      signal: AbortSignal.timeout(h.timeoutMs),
      headers: { 'user-agent': userAgent, ...(h.host === undefined ? {} : { host: h.host }) }
    })
    await res.body.dump({ limit: 65536 }).catch(() => {})
    return { status: res.statusCode }
  }
  return {
    probe: async origin => await probe(origin).catch((err: Error & { code?: unknown }) => ({ error: reason(err, h.timeoutMs) })),
    close: async () => { if (agent !== undefined) await (await agent.catch(() => undefined))?.close() }
  }
}

/** Error codes as operators know them (ECONNREFUSED, ...); a timeout says how long it waited. */
function reason (err: Error & { code?: unknown }, timeoutMs: number): string {
  if (err.name === 'TimeoutError' || err.name === 'AbortError' || (typeof err.code === 'string' && err.code.includes('TIMEOUT'))) return `no answer within ${timeoutMs} ms`
  return typeof err.code === 'string' ? err.code : err.message
}
