import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { ClientReply, type ReplySink } from '../../src/engine/client-reply.js'

/** A loopback socket pair: the reply writes on `server`, the test reads what `client` receives. */
async function pair (): Promise<{ server: net.Socket, client: net.Socket, received: () => Promise<string>, close: () => void }> {
  const listener = net.createServer()
  listener.listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1')
  const [server] = await once(listener, 'connection') as [net.Socket]
  let text = ''
  client.setEncoding('latin1')
  client.on('data', (d: string) => { text += d })
  return {
    server,
    client,
    received: async () => { await new Promise(resolve => setTimeout(resolve, 50)); return text },
    close: () => { client.destroy(); server.destroy(); listener.close() }
  }
}

function sink (socket: net.Socket, opts: { method?: string, http10?: boolean, close?: boolean } = {}): ReplySink & { log: Array<[number, number, boolean]> } {
  const log: Array<[number, number, boolean]> = []
  return { socket, method: opts.method ?? 'GET', http10: opts.http10 ?? false, closeAfter: () => opts.close ?? false, replied: (s, b, c) => { log.push([s, b, c]) }, log }
}

t.test('framing: Content-Length when given, else chunked; HTTP/1.0 close-delimited; HEAD, 204 bodiless', async t => {
  const p = await pair()
  t.teardown(p.close)
  const s1 = sink(p.server)
  const r1 = new ClientReply(s1)
  r1.head(200, [['content-type', 'text/plain'], ['content-length', '5']])
  r1.end(Buffer.from('hello'))
  t.match(await p.received(), /^HTTP\/1\.1 200 OK\r\ncontent-type: text\/plain\r\ncontent-length: 5\r\ndate: [^\r]+\r\n\r\nhello$/)
  t.notMatch(await p.received(), /connection:/, 'keep-alive is HTTP/1.1\'s default: no Connection field')
  t.same(s1.log, [[200, 5, false]], 'the connection hears of the end once, with the body bytes')

  const p2 = await pair()
  t.teardown(p2.close)
  const r2 = new ClientReply(sink(p2.server, { close: true }))
  r2.head(200, [['x-a', '1']])
  r2.write(Buffer.from('abc'))
  r2.end(Buffer.from('de'))
  t.match(await p2.received(), /^HTTP\/1\.1 200 OK\r\nx-a: 1\r\ntransfer-encoding: chunked\r\ndate: [^\r]+\r\nconnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n$/,
    'no length: chunked, terminated; connection: close when the connection ends after it')

  const p3 = await pair()
  t.teardown(p3.close)
  const s3 = sink(p3.server, { http10: true })
  const r3 = new ClientReply(s3)
  r3.head(200, [])
  r3.end(Buffer.from('old'))
  t.match(await p3.received(), /^HTTP\/1\.1 200 OK\r\ndate: [^\r]+\r\nconnection: close\r\n\r\nold$/, 'HTTP/1.0 client, no length: delimited by closing')
  t.same(s3.log, [[200, 3, true]])

  const p4 = await pair()
  t.teardown(p4.close)
  const r4 = new ClientReply(sink(p4.server, { method: 'HEAD' }))
  r4.head(200, [['content-length', '5']])
  r4.end(Buffer.from('hello'))
  const r5 = new ClientReply(sink(p4.server))
  r5.head(204, [['x-b', '2']])
  r5.end()
  t.match(await p4.received(), /^HTTP\/1\.1 200 OK\r\ncontent-length: 5\r\ndate: [^\r]+\r\n\r\nHTTP\/1\.1 204 No Content\r\nx-b: 2\r\ndate: [^\r]+\r\n\r\n$/,
    'HEAD: the length, no body bytes; 204: no framing at all')
  t.throws(() => { new ClientReply(sink(p4.server)).head(200, [['location', 'x\r\nset-cookie: a=1']]) }, /invalid character/, 'no line break ever reaches a head')
})

t.test('backpressure: write says when the socket is full, onDrain says when to go on', async t => {
  const p = await pair()
  t.teardown(p.close)
  p.client.pause()
  const r = new ClientReply(sink(p.server))
  r.head(200, [])
  const chunk = Buffer.alloc(64 * 1024, 97)
  let writes = 0
  while (r.write(chunk) && writes < 10_000) writes++
  t.ok(writes < 10_000, `write returned false after ${writes} chunks while the client read nothing`)
  const drained = new Promise<boolean>(resolve => { r.onDrain(() => resolve(true)) })
  p.client.resume()
  t.equal(await drained, true, 'onDrain fires once the client reads')
  r.end()
})

t.test('a client gone before the end: onClose listeners hear it, once', async t => {
  const p = await pair()
  t.teardown(p.close)
  const r = new ClientReply(sink(p.server))
  let closed = 0
  r.onClose(() => { closed++ })
  r.head(200, [])
  r.closed()
  r.closed()
  t.equal(closed, 1)
  const done = new ClientReply(sink(p.server))
  let after = 0
  done.onClose(() => { after++ })
  done.head(200, [['content-length', '0']])
  done.end()
  done.closed()
  t.equal(after, 0, 'not after a complete answer')
})
