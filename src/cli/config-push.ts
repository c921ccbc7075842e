import { readFile } from 'node:fs/promises'
import { loadConfigFile, loadWithShared, SHARED_KEYS } from '../config/index.js'
import { compileRouteTable } from '../router/index.js'

/**
 * `portico config push FILE`: FILE holds the shared routes (`routes`, `tcp_routes`); they are
 * validated together with the local config file exactly as `check` would validate a file with
 * those routes (problems as FILE:LINE:COL), then written to the `cluster.config_key` etcd key,
 * which every instance watches. Nothing is written when anything is wrong.
 */
export async function configPush (configFile: string, file: string, out: { stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream }): Promise<number> {
  let key: string
  let text: string
  let cluster
  try {
    const local = await loadConfigFile(configFile, { files: true })
    cluster = local.config.cluster
    if (cluster?.config_key === undefined) {
      out.stderr.write(`portico config push: ${configFile} has no cluster.config_key: the routes of this cluster come from the files\n`)
      return 1
    }
    key = `${cluster.prefix}${cluster.config_key}`
    text = await readFile(file, 'utf8').catch((err: Error) => { throw new Error(`${file}: cannot read: ${err.message}`) })
    compileRouteTable(await loadWithShared(local.source, configFile, text, file, { files: true }))
  } catch (err) {
    out.stderr.write(`${(err as Error).message}\n`)
    return 1
  }
  const { etcdClient } = await import('../cluster/connect.js')
  const client = await etcdClient(cluster)
  try {
    await client.put(key).value(text).exec()
  } catch (err) {
    out.stderr.write(`portico config push: writing etcd key ${key} failed: ${(err as Error).message}\n`)
    return 1
  } finally {
    client.close()
  }
  out.stdout.write(`ok: ${file} (${SHARED_KEYS.join(', ')}) written to etcd key ${key}\n`)
  return 0
}
