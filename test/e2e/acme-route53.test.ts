import t from 'tap'
import tls from 'node:tls'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { freePort, makeTempDir, startPortico } from '../helpers/portico.js'
import { acmeConfig, startChallTestSrv, startPebble } from '../helpers/pebble.js'
import { startFakeRoute53 } from '../helpers/fake-route53.js'
import { requires } from '../helpers/required.js'

const KEY = { id: 'AKIAPORTICOTEST00001', secret: 'wJalrXUtnFEMI/K7MDENG/portico-test-secret', region: 'us-east-1' }

async function issuerOf (port: number, servername: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      resolve(s.getPeerX509Certificate()?.issuer ?? '')
      s.end()
    })
    s.on('error', reject)
  })
}

const NEEDS = requires('command:pebble', 'command:pebble-challtestsrv')

t.test('Route53 (AWS SDK v3 against a local fake of its API that checks SigV4): a wildcard order through Pebble', NEEDS, async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const dns = await startChallTestSrv()
  t.teardown(dns.stop)
  // The one place a fake is right: no real AWS here. What it accepts goes into challtestsrv.
  const published: string[] = []
  let served: readonly string[] = []
  const r53 = await startFakeRoute53({ id: 'ZFAKE0001', name: 'r53.test.' }, KEY, async (name, values) => {
    published.push(`${name}=${values.join(',')}`)
    // challtestsrv only adds values or clears them all, while a Route53 UPSERT swaps the set at
    // once: a value that goes stays served until the whole set goes (a clear then re-add would
    // leave the other authorization's value missing for a moment while Pebble may be querying it).
    if (values.length === 0) {
      await fetch(`${dns.api}/clear-txt`, { method: 'POST', body: JSON.stringify({ host: name }) })
      served = []
      return
    }
    for (const value of values.filter(v => !served.includes(v))) await fetch(`${dns.api}/set-txt`, { method: 'POST', body: JSON.stringify({ host: name, value }) })
    served = [...new Set([...served, ...values])]
  })
  t.teardown(() => r53.close())
  await writeFile(join(dir, 'aws.secret'), `${KEY.secret}\n`, { mode: 0o600 })
  const pebble = await startPebble(dir, { dnsServer: dns.dns, httpPort: await freePort() })
  t.teardown(pebble.stop)
  const httpsPort = await freePort()
  const p = await startPortico({
    dir,
    // No AWS settings from the environment may leak in (nor a request to a real credential source).
    env: { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '', AWS_EC2_METADATA_DISABLED: 'true' },
    config: `
state_dir: \${STATE}
admin: null
listeners: [{ name: https, address: "127.0.0.1:${httpsPort}", tls: true }]
routes: [{ host: "*", respond: { body: ok } }]
${acmeConfig(pebble, '    - { name: r53.test, domains: ["*.r53.test", r53.test], provider: route53 }',
  `  route53: { access_key_id: ${KEY.id}, secret_access_key_file: aws.secret, endpoint: "${r53.endpoint}" }`)}
`
  })
  t.teardown(() => p.stop('SIGKILL'))
  await p.waitForLog(l => l.msg === 'config reloaded' && l.reason === 'certificate issued: r53.test', 90_000)
  for (let i = 0; i < 100 && r53.records.size > 0; i++) await new Promise(resolve => setTimeout(resolve, 50))
  t.match(await issuerOf(httpsPort, 'x.r53.test'), /Pebble/, 'wildcard issued through the Route53 provider')
  t.same(p.logs.filter(l => l.msg === 'acme: order failed; will retry').map(l => l.err), [], 'at the first attempt')
  t.same(r53.calls.filter(c => c.startsWith('REJECTED')), [], 'every request carried a valid SigV4 signature for the configured key and region')
  t.ok(r53.calls.some(c => c.startsWith('GET /2013-04-01/hostedzonesbyname?')), 'the hosted zone was looked up by name')
  t.ok(r53.calls.filter(c => c === 'GET /2013-04-01/change/C1').length >= 2, 'a PENDING change was polled until INSYNC')
  t.match(published[1] ?? '', /^_acme-challenge\.r53\.test\.=[^,]+,[^,]+$/, `both values of the order on one TXT record set at once: ${published.join(' | ')}`)
  t.equal(r53.records.size, 0, 'and the record set deleted afterwards')
  const unsigned = await fetch(`${r53.endpoint}/2013-04-01/hostedzonesbyname?dnsname=r53.test.`)
  t.equal(unsigned.status, 403, 'the fake does reject a request without a valid signature')
})
