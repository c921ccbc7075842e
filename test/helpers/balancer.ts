import net from 'node:net'
import dgram from 'node:dgram'
import type { Test } from 'tap'

/**
 * A TCP load balancer on loopback, like the one in front of a cluster: each connection goes to the
 * port `pick` chooses at connect time (the test decides which instance the CA reaches).
 */
export async function tcpBalancer (t: Test, host: string, port: number, pick: () => Promise<number>): Promise<{ sent: number[] }> {
  const sent: number[] = []
  const server = net.createServer(client => {
    client.pause()
    client.on('error', () => {})
    void pick().then(target => {
      sent.push(target)
      const upstream = net.connect(target, '127.0.0.1', () => { client.pipe(upstream); upstream.pipe(client); client.resume() })
      upstream.on('error', () => { client.destroy() })
    }, () => { client.destroy() })
  })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, host, resolve) })
  t.teardown(async () => await new Promise<void>(resolve => server.close(() => { resolve() })))
  return { sent }
}

/**
 * The same for DNS over UDP (the CA's resolver in front of several instances' DNS servers): each query goes to the
 * port `pick` chooses, its answer back to the asker. Bounded: one pending query per id.
 */
export async function udpBalancer (t: Test, port: number, pick: () => Promise<number>): Promise<{ sent: number[] }> {
  const sent: number[] = []
  const server = dgram.createSocket('udp4')
  server.on('message', (msg, from) => {
    void pick().then(target => {
      sent.push(target)
      const up = dgram.createSocket('udp4')
      const done = setTimeout(() => { up.close() }, 3000)
      up.on('message', answer => { clearTimeout(done); server.send(answer, from.port, from.address); up.close() })
      up.on('error', () => { clearTimeout(done); up.close() })
      up.send(msg, target, '127.0.0.1')
    }, () => {})
  })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.bind(port, '127.0.0.1', resolve) })
  t.teardown(async () => await new Promise<void>(resolve => server.close(() => { resolve() })))
  return { sent }
}
