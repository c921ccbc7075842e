import t from 'tap'
import { spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { CLI } from '../helpers/portico.js'
import { requires } from '../helpers/required.js'

// UAP isolation against real non-loopback addresses, inside a network namespace of our own:
// only `lo` exists there (the test addresses are added to it), so even a wrong decision cannot send traffic out.
const RUNNER = resolve(import.meta.dirname, '../fixtures/netns-uap.mjs')
const NS_SETUP = 'ip link set lo up && ip addr add 198.51.100.99/32 dev lo && ip addr add 203.0.113.5/32 dev lo'

const allowed = ['http-198-51-100-99-8888.uap.example.org', '198-51-100-99-8888.UAP.EXAMPLE.ORG.', 'HTTP-198-51-100-99-8888.uap.example.org:443']
const denied = [
  'http-203-0-113-5-8888.uap.example.org', // outside the CIDR
  'http-198-51-100-99-22.uap.example.org', // port outside the ranges
  'http-127-0-0-1-8888.uap.example.org', // loopback is not in the allowlist
  'http-198-51-100-099-8888.uap.example.org', 'http-198-51-100-99-08888.uap.example.org', '999-51-100-99-8888.uap.example.org',
  'http-198-51-100-99-0.uap.example.org', 'http-198-51-100-99-65536.uap.example.org', 'x.http-198-51-100-99-8888.uap.example.org',
  'http-198-51-100-99-8888-1.uap.example.org', 'xn--http-198-51-100-99-8888.uap.example.org', 'ftp-198-51-100-99-8888.uap.example.org',
  'http-198.51.100.99-8888.uap.example.org', 'http-3325256803-8888.uap.example.org', 'http-0xc6-51-100-99-8888.uap.example.org'
]
const malformed = ['', 'a..uap.example.org', 'http-198-51-100-99-8888.uap.example.org:99999', '[::1]:80x']

t.test('UAP decisions in a loopback-only namespace', requires('root', 'command:unshare', 'command:ip'), async t => {
  const corpus = [...allowed, ...denied, ...malformed]
  const child = spawn('unshare', ['--net', '--fork', '--kill-child', '--', 'sh', '-c', `${NS_SETUP} && exec "$0" "$@"`, process.execPath, RUNNER, CLI, JSON.stringify(corpus)], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const code = await new Promise(resolve => child.once('exit', resolve))
  clearTimeout(timer)
  t.equal(code, 0, err)
  const { results, counts, requests } = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { results: Array<{ host: string, status: number, body: string }>, counts: Record<string, number>, requests: Record<string, number> }
  const byHost = new Map(results.map(r => [r.host, r]))
  for (const h of allowed) {
    const r = byHost.get(h)
    t.equal(r?.status, 200, `allowed: ${h}`)
    t.match(r?.body, /"served_by":"198\.51\.100\.99:8888"/)
  }
  for (const h of denied) {
    const r = byHost.get(h)
    t.equal(r?.status, 403, `denied: ${h}`)
  }
  for (const h of malformed) t.ok(byHost.get(h)?.status === 400 || byHost.get(h)?.status === 0, `malformed rejected: ${JSON.stringify(h)} -> ${byHost.get(h)?.status}`)
  t.equal(requests['198.51.100.99:8888'], allowed.length, 'the allowed target saw exactly the allowed requests')
  t.equal(counts['203.0.113.5:8888'], 0, 'no connection to the address outside the CIDR')
  t.equal(counts['198.51.100.99:22'], 0, 'no connection to the denied port')
  t.equal(counts['127.0.0.1:8888'], 0, 'no connection to loopback')
})
