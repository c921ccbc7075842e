import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Config } from '../config/index.js'
import { verify } from '../acme/store.js'

/**
 * `portico certs import DIR`: moves a single instance's certificates into the cluster. DIR is a
 * certbot `live/` directory (`live/<name>/fullchain.pem` + `privkey.pem`); every configured ACME
 * certificate found there is verified and stored in etcd (private key sealed), unless etcd already
 * holds one that lasts as long or longer. Running instances install it through their watch.
 */
export async function importCertificates (config: Config, dir: string, out: (line: string) => void): Promise<number> {
  const c = config.cluster
  if (c === undefined || c.secret_file === undefined) {
    out('portico certs import: needs the cluster section with cluster.secret_file\n')
    return 2
  }
  const wanted = new Set(config.acme?.certificates.map(x => x.name) ?? [])
  const found = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => { throw new Error(`cannot read ${dir}: ${err.code ?? err.message}`) })
  const { connectCluster, instanceName, ClusterCertificates, readSecretBox } = await import('../cluster/index.js')
  const quiet = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} }
  const cluster = await connectCluster({ ...c, name: `${instanceName(c).slice(0, 57)}.import` }, quiet)
  const store = new ClusterCertificates(cluster, await readSecretBox(c.secret_file), quiet)
  let problems = 0
  try {
    for (const entry of found.filter(e => e.isDirectory() || e.isSymbolicLink()).map(e => e.name).sort()) {
      if (!wanted.has(entry)) { out(`skipped ${entry}: not an acme certificate of this config\n`); continue }
      try {
        const [fullchain, key] = await Promise.all([readFile(join(dir, entry, 'fullchain.pem'), 'utf8'), readFile(join(dir, entry, 'privkey.pem'), 'utf8')])
        const info = verify(entry, fullchain, key)
        const there = await store.fetch(entry).catch(() => undefined)
        if (there !== undefined && verify(entry, there.fullchain, there.key).notAfter >= info.notAfter) {
          out(`kept ${entry}: the cluster already holds a certificate valid as long or longer\n`)
          continue
        }
        await store.put(entry, { fullchain, key })
        out(`imported ${entry}: serial ${info.serial}, not after ${info.notAfter.toISOString()}\n`)
      } catch (err) {
        problems++
        out(`failed ${entry}: ${(err as Error).message}\n`)
      }
    }
  } finally {
    await cluster.close()
  }
  return problems === 0 ? 0 : 1
}
