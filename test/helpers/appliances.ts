import type { Test } from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { freePort, httpConfig, startPortico, type Portico } from './portico.js'
import { importBusybox, startDockerd, type Dockerd } from './dockerd.js'

const run = promisify(execFile)
export const ZONE = 'hpc.test'

export async function dig (port: number, ...args: string[]): Promise<string> {
  return (await run('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', ...args], { timeout: 10_000 })).stdout
}

export interface Appliances { d: Dockerd, image: string, net: string[], subnet: string, dnsPort: number, httpPort: number, p: Portico }

/**
 * The hosted-appliances setup: a private dockerd with the busybox image and an `appliances`
 * network on a fresh /24 (so a bridge left behind by a crashed run cannot shadow it), and
 * portico with `docker`, `dns`, an admin listener, `workers: 2` (name tables travel by IPC) and
 * the route `<tenant>.hpc.example.com` → `nginx.<tenant>.<zone>:80`. `endpointOf` may put
 * something in front of dockerd's socket (the Docker endpoint portico is given).
 */
export async function startAppliances (
  t: Test, subnetPrefix: string, reconcile: string, connectTimeout = '1s', endpointOf = async (d: Dockerd): Promise<string> => d.endpoint
): Promise<Appliances> {
  const d = await startDockerd()
  t.teardown(() => d.stop())
  const endpoint = await endpointOf(d)
  const image = await importBusybox(d)
  const subnet = `${subnetPrefix}.${1 + Math.floor(Math.random() * 254)}.0/24`
  await d.docker('network', 'create', '--subnet', subnet, 'appliances')
  const dnsPort = await freePort()
  const httpPort = await freePort()
  const p = await startPortico({
    config: httpConfig(`
  - name: appliance
    host: '~^(?<tenant>[a-z0-9]+)\\.hpc\\.example\\.com$'
    docker: { name: 'nginx.{tenant}', port: 80, timeouts: { connect: ${connectTimeout} } }`, `
admin: { address: "127.0.0.1:0" }
docker: { endpoint: "${endpoint}", zone: ${ZONE}, reconcile_interval: ${reconcile} }
dns: { address: "127.0.0.1:${dnsPort}", ttl: 1s }
workers: 2`).replace('admin: null\n', '').replace('127.0.0.1:0"', `127.0.0.1:${httpPort}"`)
  })
  t.teardown(() => p.stop('SIGKILL'))
  return { d, image, net: ['--network', 'appliances'], subnet, dnsPort, httpPort, p }
}
