import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { freePort } from './portico.js'
import { queryTxt } from '../../src/acme/index.js'

/** A real bind9 primary for `zone` on loopback that accepts TSIG-signed TXT updates. */
export async function startNamed (dir: string, zone: string): Promise<{ server: string, keyName: string, secretFile: string, stop: () => Promise<void> }> {
  const port = await freePort()
  const secret = randomBytes(32).toString('base64')
  const keyName = 'portico-acme'
  await writeFile(join(dir, `${zone}.zone`), `$TTL 60
@ IN SOA ns.${zone}. hostmaster.${zone}. 1 60 60 3600 60
@ IN NS ns.${zone}.
ns IN A 127.0.0.1
@ IN A 127.0.0.1
`)
  await writeFile(join(dir, 'named.conf'), `
options { directory "${dir}"; listen-on port ${port} { 127.0.0.1; }; listen-on-v6 { none; }; pid-file "${dir}/named.pid";
  recursion no; allow-query { any; }; dnssec-validation no; };
key "${keyName}" { algorithm hmac-sha256; secret "${secret}"; };
controls { };
zone "${zone}" { type master; file "${dir}/${zone}.zone"; update-policy { grant ${keyName} zonesub TXT; }; };
`)
  const secretFile = join(dir, 'tsig.secret')
  await writeFile(secretFile, secret, { mode: 0o600 })
  const child = spawn('named', ['-g', '-c', join(dir, 'named.conf')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr.on('data', (b: Buffer) => { log = (log + b.toString()).slice(-4000) })
  const server = `127.0.0.1:${port}`
  const deadline = Date.now() + 15_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`named exited: ${log}`)
    // Any answer (even empty) means named is serving the zone.
    if (await queryTxt(server, `probe.${zone}`).then(() => true, () => false)) break
    if (Date.now() > deadline) throw new Error(`named not ready: ${log}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return {
    server,
    keyName,
    secretFile,
    stop: async () => {
      if (child.exitCode !== null) return
      const done = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGKILL')
      await done
    }
  }
}
