import t from 'tap'
import { execFile } from 'node:child_process'
import { chmod, chown, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { CLI, makeTempDir } from '../helpers/portico.js'
import { requires } from '../helpers/required.js'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')
/** Stand-ins for the guide's `portico` user and group, and for an operator outside that group. */
const SERVICE = { uid: 65534, gid: 65534 }
const OUTSIDER = { uid: 1, gid: 1 }

/**
 * docs/INSTALL-UAP-HOST.md, steps 2 and 3, replayed on a scratch root: the `install`, `chgrp`
 * and `chmod` lines are read from the guide itself (so a change of modes there is tested here),
 * then the CLI runs as the service user, as the guide says, and as someone outside its group.
 */
t.test('the install guide\'s modes: the service user can check the config, others get a clear EACCES', requires('root', 'command:setpriv'), async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  await chmod(dir, 0o755)
  const guide = await readFile(join(ROOT, 'docs/INSTALL-UAP-HOST.md'), 'utf8')
  const at = (p: string): string => join(dir, p)
  await mkdir(at('etc/letsencrypt/live/uap.example.org'), { recursive: true })
  // certbot's layout: live/NAME holds symlinks into archive/NAME (portico renews into both).
  await mkdir(at('etc/letsencrypt/archive/uap.example.org'), { recursive: true })
  const steps = guide.split('\n').filter(l => /^sudo (install|chgrp|chmod) /.test(l) && l.includes('/etc/'))
  t.ok(steps.length >= 5, `install/chgrp/chmod steps found: ${steps.length}`)
  for (const line of steps) {
    const words = line.replace(/\s+#.*$/, '').replace(/ <<< .*$/, '').split(/\s+/).slice(1)
    const [cmd, ...args] = words.map(w => w.startsWith('/etc/') ? at(w.slice(1)) : w === 'portico' ? String(SERVICE.gid) : w)
    if (cmd === 'install') {
      const mode = parseInt(args[args.indexOf('-m') + 1]!, 8)
      const dest = args.at(-1)!
      if (args.includes('-d')) await mkdir(dest, { recursive: true })
      else {
        const src = args.at(-2)!
        if (src === '/dev/stdin') await writeFile(dest, 'cloudflare-token\n')
        else await copyFile(src.replace('/opt/portico', ROOT), dest)
      }
      await chown(dest, 0, SERVICE.gid)
      await chmod(dest, mode)
    } else {
      await run(cmd!, args)
    }
  }
  // sudoedit: point the example's absolute paths into the scratch root.
  const config = at('etc/portico/portico.yaml')
  await writeFile(config, (await readFile(config, 'utf8')).replaceAll('/etc/', `${dir}/etc/`).replaceAll('/var/lib/portico', at('var/lib/portico')))
  t.match(guide, /sudo -u portico portico check --config \/etc\/portico\/portico\.yaml/, 'the guide runs check as the service user')

  const cli = async (who: { uid: number, gid: number }, groups: string, args: string[]): Promise<{ code: number, out: string, err: string }> =>
    // env -i: tap's NODE_OPTIONS hooks would try to write into the checkout as that user.
    await run('setpriv', [`--reuid=${who.uid}`, `--regid=${who.gid}`, groups, 'env', '-i', process.execPath, CLI, ...args]).then(
      r => ({ code: 0, out: r.stdout, err: r.stderr }), (e: { code: number, stdout: string, stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }))
  const service = await cli(SERVICE, '--init-groups', ['check', '--config', config])
  t.same(service, { code: 0, out: 'ok\n', err: '' }, 'as the service user: ok')
  const outsider = await cli(OUTSIDER, '--clear-groups', ['check', '--config', config])
  t.equal(outsider.code, 1, 'outside the group: refused, not crashed')
  t.match(outsider.err, new RegExp(`^${config}:1:1: cannot read config: EACCES`))
  t.equal(dirname(config), at('etc/portico'))
})
