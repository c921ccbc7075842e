import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { freePort } from './portico.js'
import { queryTxt } from '../../src/acme/index.js'

interface Named { server: string, stop: () => Promise<void> }

/** Runs named on `dir/named.conf` (listening on `port`) until a query for `probe` gets any answer. */
async function runNamed (dir: string, port: number, probe: string): Promise<Named> {
  const child = spawn('named', ['-g', '-c', join(dir, 'named.conf')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr.on('data', (b: Buffer) => { log = (log + b.toString()).slice(-4000) })
  const server = `127.0.0.1:${port}`
  const deadline = Date.now() + 15_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`named exited: ${log}`)
    // Any answer (even empty) means named is serving the zone.
    if (await queryTxt(server, probe).then(() => true, () => false)) break
    if (Date.now() > deadline) throw new Error(`named not ready: ${log}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return {
    server,
    stop: async () => {
      if (child.exitCode !== null) return
      const done = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGKILL')
      await done
    }
  }
}

const zoneFile = (zone: string, records = ''): string => `$TTL 60
@ IN SOA ns.${zone}. hostmaster.${zone}. 1 60 60 3600 60
@ IN NS ns.${zone}.
ns IN A 127.0.0.1
@ IN A 127.0.0.1
${records}
`

/** A real bind9 primary for `zone` on loopback that accepts TSIG-signed TXT updates. */
export async function startNamed (dir: string, zone: string): Promise<Named & { keyName: string, secretFile: string }> {
  const port = await freePort()
  const secret = randomBytes(32).toString('base64')
  const keyName = 'portico-acme'
  await writeFile(join(dir, `${zone}.zone`), zoneFile(zone))
  await writeFile(join(dir, 'named.conf'), `
options { directory "${dir}"; listen-on port ${port} { 127.0.0.1; }; listen-on-v6 { none; }; pid-file "${dir}/named.pid";
  recursion no; allow-query { any; }; dnssec-validation no; };
key "${keyName}" { algorithm hmac-sha256; secret "${secret}"; };
controls { };
zone "${zone}" { type master; file "${dir}/${zone}.zone"; update-policy { grant ${keyName} zonesub TXT; }; };
`)
  const secretFile = join(dir, 'tsig.secret')
  await writeFile(secretFile, secret, { mode: 0o600 })
  return { ...await runNamed(dir, port, `probe.${zone}`), keyName, secretFile }
}

/**
 * bind9 as the resolver a CA uses: authoritative for `zone` (with `records`, e.g. the operator's
 * `_acme-challenge` CNAMEs), recursive, and forwarding `forward.zone` to `forward.server` (the
 * zone portico serves). The root hints point at loopback: nothing is asked beyond this machine.
 */
export async function startResolver (parent: string, zone: string, records: string, forward: { zone: string, server: string }): Promise<Named> {
  const dir = join(parent, 'resolver')
  await mkdir(dir, { recursive: true })
  const port = await freePort()
  const [fwdHost, fwdPort] = forward.server.split(':')
  await writeFile(join(dir, `${zone}.zone`), zoneFile(zone, records))
  await writeFile(join(dir, 'root.hint'), '. 3600000 NS a.root.invalid.\na.root.invalid. 3600000 A 127.0.0.1\n')
  await writeFile(join(dir, 'named.conf'), `
options { directory "${dir}"; listen-on port ${port} { 127.0.0.1; }; listen-on-v6 { none; }; pid-file "${dir}/named.pid";
  recursion yes; allow-recursion { any; }; allow-query { any; }; dnssec-validation no; qname-minimization off; };
controls { };
zone "." { type hint; file "${dir}/root.hint"; };
zone "${zone}" { type master; file "${dir}/${zone}.zone"; };
zone "${forward.zone}" { type forward; forward only; forwarders { ${fwdHost} port ${fwdPort}; }; };
`)
  return await runNamed(dir, port, `probe.${zone}`)
}
