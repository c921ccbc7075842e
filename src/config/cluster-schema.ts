import { z } from 'zod'
import { duration, filePath } from './fields.js'

/** An etcd client URL: http(s)://host:port, nothing after the authority. */
const endpoint = z.string().superRefine((v, ctx) => {
  let url: URL | undefined
  try { url = new URL(v) } catch {}
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.port === '' ||
    (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '') {
    ctx.addIssue({ code: 'custom', message: 'expected an etcd client URL such as https://10.0.0.1:2379' })
  }
})

/**
 * The `cluster` section (issue 23): several portico instances coordinate through etcd v3.
 * Absent: a single process with files, exactly as without clustering.
 */
export const cluster = z.strictObject({
  endpoints: z.array(endpoint).min(1),
  // Every key portico writes lives under this prefix: several clusters can share one etcd.
  prefix: z.string().regex(/^\/[A-Za-z0-9._/-]*\/$/, 'a key prefix such as /portico/ (starts and ends with /)').default('/portico/'),
  // Unset: the host name. Two running instances must not share a name (their leases would mix).
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, . _ - (at most 64)').optional(),
  lease_ttl: duration.refine(ms => ms >= 2000 && ms <= 300_000, 'between 2s and 5m').default(10_000),
  dial_timeout: duration.refine(ms => ms >= 100 && ms <= 60_000, 'between 100ms and 60s').default(5000),
  tls: z.strictObject({
    ca_file: filePath.optional(),
    cert_file: filePath.optional(),
    key_file: filePath.optional()
  }).superRefine((t, ctx) => {
    if ((t.cert_file === undefined) !== (t.key_file === undefined)) {
      ctx.addIssue({ code: 'custom', path: [t.cert_file === undefined ? 'cert_file' : 'key_file'], message: 'cert_file and key_file go together (a client certificate)' })
    }
  }).optional(),
  auth: z.strictObject({
    username: z.string().min(1),
    password_file: filePath
  }).optional(),
  // The routes (routes, tcp_routes) come from this etcd key (relative to prefix), watched; `portico config push` writes it.
  config_key: z.string().regex(/^[A-Za-z0-9._-][A-Za-z0-9._/-]{0,200}$/, 'a key below the prefix such as config').optional(),
  // 32 random bytes (hex or base64, or raw) every instance has: encrypts private keys stored in etcd.
  secret_file: filePath.optional()
}).superRefine((c, ctx) => {
  const reserved = ['members/', 'locks/', 'docker/'].find(p => c.config_key?.startsWith(p) === true || c.config_key === p.slice(0, -1))
  if (reserved !== undefined) ctx.addIssue({ code: 'custom', path: ['config_key'], message: `${reserved} is where portico keeps its own keys: choose another key, such as config` })
  if (c.tls !== undefined && c.endpoints.some(e => e.startsWith('http:'))) {
    ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls is set but an endpoint is http://: use https:// endpoints' })
  }
})

export type ClusterConfig = z.output<typeof cluster>

/** What the cross-checks read of the `acme` section. */
interface ClusterAcme {
  propagation: { nameservers: readonly string[] }
  certificates: ReadonlyArray<{ name: string, challenge: string, provider?: string | undefined }>
}

/** Checks between `cluster` and the other sections. */
export function clusterCrossChecks (
  c: { cluster?: ClusterConfig | undefined, acme?: ClusterAcme | undefined, docker?: { watch: boolean } | undefined },
  ctx: z.RefinementCtx
): void {
  // Certificates shared in a cluster need the key that seals their private keys.
  if (c.cluster !== undefined && c.acme !== undefined && c.cluster.secret_file === undefined) {
    ctx.addIssue({ code: 'custom', path: ['cluster', 'secret_file'], message: 'acme in a cluster stores private keys in etcd, encrypted: set cluster.secret_file (32 random bytes every instance has)' })
  }
  // The CA may ask any instance's DNS server while the orderer's TXT value is still on its way through etcd.
  if (c.cluster !== undefined && c.acme !== undefined && c.acme.propagation.nameservers.length === 0) {
    const i = c.acme.certificates.findIndex(cert => cert.challenge === 'dns-01' && cert.provider === 'builtin')
    if (i >= 0) ctx.addIssue({ code: 'custom', path: ['acme', 'propagation', 'nameservers'], message: `certificate ${c.acme.certificates[i]?.name ?? ''} uses the builtin DNS-01 provider in a cluster: list every instance's DNS server here, so an order waits until all of them answer its TXT value` })
  }
  if (c.docker?.watch === false && c.cluster === undefined) {
    ctx.addIssue({ code: 'custom', path: ['docker', 'watch'], message: 'watch: false serves the Docker names other hosts publish: it needs the cluster section' })
  }
}

/** The section with its files resolved against the config file's folder. */
export function clusterPaths (c: ClusterConfig, abs: (p: string) => string): ClusterConfig {
  const t = c.tls
  return {
    ...c,
    ...(t === undefined
      ? {}
      : {
          tls: {
            ...(t.ca_file === undefined ? {} : { ca_file: abs(t.ca_file) }),
            ...(t.cert_file === undefined ? {} : { cert_file: abs(t.cert_file) }),
            ...(t.key_file === undefined ? {} : { key_file: abs(t.key_file) })
          }
        }),
    ...(c.auth === undefined ? {} : { auth: { ...c.auth, password_file: abs(c.auth.password_file) } }),
    ...(c.secret_file === undefined ? {} : { secret_file: abs(c.secret_file) })
  }
}
