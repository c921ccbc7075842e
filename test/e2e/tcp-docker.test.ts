import t from 'tap'
import { requires } from '../helpers/required.js'
import { until } from '../helpers/wait.js'
import { importBusybox, startDockerd } from '../helpers/dockerd.js'
import { startPortico } from '../helpers/portico.js'
import { connectTcp, exchange } from '../helpers/tcp-peers.js'

const ZONE = 'hpc.test'

/** busybox nc serving `greeting` then echoing, on port 7000 of a container on the test's own dockerd. */
const echoCommand = (greeting: string): string[] => ['sh', '-c',
  `printf '#!/bin/sh\\necho ${greeting}\\nexec cat\\n' > /www/h && busybox chmod 755 /www/h && exec busybox nc -ll -p 7000 -e /www/h`]

t.test('a Docker-name TCP route reaches a TCP echo in a container, and fails over to the maintenance container', requires('root', 'command:dockerd'), async t => {
  const d = await startDockerd()
  t.teardown(() => d.stop())
  const image = await importBusybox(d)
  await d.docker('network', 'create', '--subnet', `172.30.${1 + Math.floor(Math.random() * 254)}.0/24`, 'appliances')
  const p = await startPortico({
    config: `
state_dir: \${STATE}
admin: null
log: { level: info, access: true }
docker: { endpoint: "${d.endpoint}", zone: ${ZONE}, reconcile_interval: 2s }
listeners: [{ name: xmpp, address: "127.0.0.1:0", protocol: tcp }]
tcp_routes: [{ name: xmpp, listeners: [xmpp], docker: { name: echo.bigco, port: 7000 }, timeouts: { connect: 1s } }]
`
  })
  t.teardown(() => p.stop('SIGKILL'))
  const port = p.ports.xmpp!
  const greeting = async (): Promise<string> => {
    const s = await connectTcp(port)
    const got = await exchange(s, undefined, 1, 3000).catch(() => '')
    s.destroy()
    return got.trim()
  }

  const none = await connectTcp(port)
  t.equal(await exchange(none, 'x', 1, 3000), '', 'no container yet: closed')
  t.match((await p.waitForLog(l => l.msg === 'tcp connection')).tcp, { route: 'xmpp', error: `no running container answers for echo.bigco.${ZONE}` })

  await d.docker('run', '-d', '--name', 'bigco-echo', '--network', 'appliances', image, ...echoCommand('primary'))
  t.equal(await until('primary greets', async () => await greeting() === 'primary' ? 'primary' : undefined, 20_000), 'primary')
  const s = await connectTcp(port)
  t.equal(await exchange(s, 'ping\n', 'primary\nping\n'.length, 3000), 'primary\nping\n', 'bytes both ways through the container')
  s.destroy()

  await d.docker('run', '-d', '--name', 'bigco-maint', '--network', 'appliances', '--label', 'portico.name=echo.bigco', '--label', 'portico.role=maintenance', image, ...echoCommand('maintenance'))
  await new Promise(resolve => setTimeout(resolve, 500))
  t.equal(await greeting(), 'primary', 'primary wins while running')
  await d.docker('stop', '-t', '1', 'bigco-echo')
  t.equal(await until('maintenance greets', async () => await greeting() === 'maintenance' ? 'maintenance' : undefined, 10_000), 'maintenance', 'new connections go to the maintenance container')
})
