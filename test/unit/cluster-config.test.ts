import t from 'tap'
import { parseConfigText, ConfigError, formatProblem } from '../../src/config/index.js'
import { Backoff } from '../../src/cluster/index.js'

const base = 'listeners: [{ name: http, address: "127.0.0.1:0" }]\n'

async function problems (yaml: string): Promise<string[]> {
  try {
    parseConfigText(base + yaml, '/etc/portico/portico.yaml')
    return []
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map(formatProblem)
    throw err
  }
}

t.test('the cluster section: defaults, relative files, clear errors', async t => {
  const config = parseConfigText(base + 'cluster: { endpoints: ["http://127.0.0.1:2379"], secret_file: keys/cluster.key }', '/etc/portico/portico.yaml')
  t.same(config.cluster?.endpoints, ['http://127.0.0.1:2379'])
  t.equal(config.cluster?.prefix, '/portico/')
  t.equal(config.cluster?.lease_ttl, 10_000)
  t.equal(config.cluster?.dial_timeout, 5000)
  t.equal(config.cluster?.secret_file, '/etc/portico/keys/cluster.key', 'files resolve against the config file')
  const without = parseConfigText(base, '/etc/portico/portico.yaml')
  t.equal(without.cluster, undefined, 'no section: no clustering')

  t.match(await problems('cluster: { endpoints: [] }'), [/cluster\.endpoints/])
  t.match(await problems('cluster: { endpoints: ["127.0.0.1:2379"] }'), [/etcd client URL/])
  t.match(await problems('cluster: { endpoints: ["http://127.0.0.1:2379/v3"] }'), [/etcd client URL/])
  t.match(await problems('cluster: { endpoints: ["http://127.0.0.1:2379"], prefix: portico }'), [/starts and ends with \//])
  t.match(await problems('cluster: { endpoints: ["http://127.0.0.1:2379"], name: "a b" }'), [/cluster\.name/])
  t.match(await problems('cluster: { endpoints: ["http://127.0.0.1:2379"], lease_ttl: 1s }'), [/between 2s and 5m/])
  t.match(await problems('cluster: { endpoints: ["http://127.0.0.1:2379"], tls: { ca_file: ca.pem } }'), [/https:\/\/ endpoints/])
  t.match(await problems('cluster: { endpoints: ["https://127.0.0.1:2379"], tls: { cert_file: c.pem } }'), [/go together/])
  t.match(await problems('cluster: { endpoints: ["https://127.0.0.1:2379"], auth: { username: u } }'), [/password_file/])
  t.match(await problems('cluster: { endpoints: ["http://127.0.0.1:2379"], lease: 5s }'), [/unknown|Unrecognized|lease_ttl/])
  t.match(await problems('cluster: { endpoints: ["http://127.0.0.1:2379"], config_key: docker/routes }'), [/cluster\.config_key: docker\/ is where portico keeps its own keys/])
  t.match(await problems('cluster: { endpoints: ["http://127.0.0.1:2379"], config_key: "/abs" }'), [/cluster\.config_key: a key below the prefix/])
  t.equal(parseConfigText(base + 'cluster: { endpoints: ["http://127.0.0.1:2379"], config_key: shared/routes }', '/x.yaml').cluster?.config_key, 'shared/routes')

  const acme = (extra: string): string => 'dns: { address: "127.0.0.1:5353" }\ncluster: { endpoints: ["http://127.0.0.1:2379"], secret_file: k }\n' +
    `acme: { directory: "https://ca.test/dir", email: a@b.test, ${extra}certificates: [{ name: w, domains: ["*.w.test"], provider: builtin }] }`
  t.match(await problems(acme('')), [/acme\.propagation\.nameservers: certificate w uses the builtin DNS-01 provider in a cluster/])
  t.same(await problems(acme('propagation: { nameservers: ["127.0.0.1:53", "127.0.0.2:53"] }, ')), [], 'every instance listed: accepted')
})

t.test('reconnect backoff: grows to its ceiling with jitter, resets', async t => {
  const top = new Backoff(100, 1000, () => 1)
  t.same([1, 2, 3, 4, 5, 6].map(() => top.next()), [100, 200, 400, 800, 1000, 1000])
  const bottom = new Backoff(100, 1000, () => 0)
  t.same([1, 2, 3].map(() => bottom.next()), [50, 50, 50], 'never below half the minimum')
  top.reset()
  t.equal(top.next(), 100)
})

t.test('docker.watch: false (a host without dockerd serving the cluster\'s names) needs the cluster section', async t => {
  t.match(await problems('docker: { zone: hpc.test, watch: false }'), [/docker\.watch: watch: false serves the Docker names other hosts publish: it needs the cluster section/])
  t.same(await problems('docker: { zone: hpc.test, watch: false }\ncluster: { endpoints: ["http://127.0.0.1:2379"] }'), [])
  t.equal(parseConfigText(base + 'docker: { zone: hpc.test }', '/etc/portico/portico.yaml').docker?.watch, true, 'watching is the default')
})
