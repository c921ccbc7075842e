import t from 'tap'
import dgram from 'node:dgram'
import net from 'node:net'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { startDnsServer, EMPTY_NAME_TABLE } from '../../src/dns/index.js'
import { requires } from '../helpers/required.js'

const run = promisify(execFile)

t.test('DNS server: TXT answers, truncation over UDP, TCP fallback, junk survives', requires('command:dig'), async t => {
  const long = Array.from({ length: 12 }, (_, i) => `${i}`.padEnd(100, 'x'))
  const server = await startDnsServer({
    address: '127.0.0.1', port: 0, zone: undefined, ttlSeconds: 5, table: () => EMPTY_NAME_TABLE,
    txt: name => name === '_acme-challenge.a.test' ? ['value-1', 'value-2'] : name === '_acme-challenge.big.test' ? long : undefined
  })
  t.teardown(() => server.close())
  const dig = async (...args: string[]): Promise<string> => (await run('dig', ['@127.0.0.1', '-p', String(server.udpPort), '+time=2', '+tries=1', ...args])).stdout
  t.same((await dig('_acme-challenge.A.TEST', 'TXT', '+short')).trim().split('\n').sort(), ['"value-1"', '"value-2"'], 'two TXT values at once, case-insensitive')
  t.match(await dig('other.test', 'A'), /status: REFUSED/, 'no zone: everything else is refused')
  t.match(await dig('_acme-challenge.big.test', 'TXT', '+ignore', '+bufsize=512'), /flags: qr aa tc\b/, 'TC set when the answer does not fit UDP')
  t.equal((await dig('_acme-challenge.big.test', 'TXT', '+short')).trim().split('\n').length, 12, 'dig retries over TCP and gets all of it')
  // Junk over UDP and TCP (dropped, or FORMERR when it has a header); the server keeps answering.
  const udp = dgram.createSocket('udp4')
  for (const junk of [Buffer.alloc(0), Buffer.from([1, 2, 3]), Buffer.alloc(600, 0xff), Buffer.from('GET / HTTP/1.1\r\n\r\n')]) udp.send(junk, server.udpPort, '127.0.0.1')
  await new Promise(resolve => setTimeout(resolve, 100))
  udp.close()
  await new Promise<void>(resolve => {
    const s = net.connect(server.tcpPort, '127.0.0.1', () => s.end(Buffer.from([0, 5, 1, 2, 3, 4, 5])))
    s.on('close', () => resolve())
    s.on('error', () => resolve())
    s.resume()
  })
  t.match(await dig('_acme-challenge.a.test', 'TXT', '+short'), /value-1/, 'still answering after junk')
})

t.test('DNS server: a port taken for TCP or UDP is an error, and nothing stays bound', async t => {
  const blocker = net.createServer()
  await new Promise<void>(resolve => blocker.listen(0, '127.0.0.1', resolve))
  const port = (blocker.address() as net.AddressInfo).port
  const opts = { address: '127.0.0.1', zone: undefined, ttlSeconds: 5, table: () => EMPTY_NAME_TABLE }
  await t.rejects(startDnsServer({ ...opts, port }), { code: 'EADDRINUSE' }, 'TCP port in use: rejected')
  await new Promise<void>(resolve => blocker.close(() => resolve()))
  const udp = dgram.createSocket('udp4')
  await new Promise<void>(resolve => udp.bind(port, '127.0.0.1', resolve))
  t.pass('the UDP port was released again')
  await t.rejects(startDnsServer({ ...opts, port }), { code: 'EADDRINUSE' }, 'UDP port in use: rejected, not hanging')
  udp.close()
  const server = await startDnsServer({ ...opts, port: 0 })
  t.equal(server.udpPort, server.tcpPort, 'port 0: one port for UDP and TCP')
  await server.close()
})
