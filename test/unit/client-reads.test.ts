import t, { type Test } from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { CLIENT_READ_LARGE, CLIENT_READ_SMALL, readAsStream, readInto, type ReadBuffer } from '../../src/engine/index.js'

/** An accepted socket and its client, on loopback. */
async function pair (t: Test, onAccept: (s: net.Socket) => void): Promise<net.Socket> {
  const server = net.createServer(s => { s.on('error', () => {}); onAccept(s) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  client.on('error', () => {})
  t.teardown(() => { client.destroy(); server.close() })
  await once(client, 'connect')
  return client
}

const flush = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, 50)) }

t.test('an accepted socket reads into its own buffer, reused until lent, grown once a read fills it', async t => {
  const reads: Array<{ text: string, at: string, buffer: ArrayBufferLike, size: number }> = []
  let lendNext = false
  let rb: ReadBuffer | undefined
  const client = await pair(t, s => {
    rb = readInto(s, chunk => {
      reads.push({ text: chunk.toString('latin1', 0, 8), at: `${chunk.byteOffset}`, buffer: chunk.buffer, size: rb?.size ?? 0 })
      if (lendNext) { rb?.lend(); lendNext = false }
    })
  })
  client.write('first')
  await flush()
  client.write('second')
  await flush()
  t.ok(rb !== undefined, 'the user-buffer path is available on this Node')
  t.same(reads.map(r => r.text), ['first', 'second'])
  const same = (a: typeof reads[number] | undefined, b: typeof reads[number] | undefined): boolean => a?.buffer === b?.buffer && a?.at === b?.at
  t.ok(same(reads[0], reads[1]), 'the second read went into the same buffer')
  t.equal(reads[0]!.size, CLIENT_READ_SMALL, 'a small buffer first')
  lendNext = true
  client.write('third')
  await flush()
  client.write('fourth')
  await flush()
  t.notOk(same(reads[3], reads[2]), 'after lend() the next read gets a fresh buffer')
  t.equal(reads[2]!.text, 'third', 'the lent bytes are intact after the next read')
  client.write(Buffer.alloc(CLIENT_READ_LARGE * 4, 'x'))
  await flush()
  t.ok(reads.some(r => r.size === CLIENT_READ_LARGE), 'a read that filled the buffer moved it to the large size')
})

t.test('pause and resume stop and restart reads; readAsStream feeds the stream for pipe()', async t => {
  const chunks: string[] = []
  let accepted: net.Socket | undefined
  let reads: ReadBuffer | undefined
  const client = await pair(t, s => {
    accepted = s
    reads = readInto(s, chunk => { chunks.push(chunk.toString()); s.pause() })
  })
  client.write('one')
  await flush()
  client.write('two')
  await flush()
  t.same(chunks, ['one'], 'paused after the first read: the second waits')
  accepted!.resume()
  await flush()
  t.same(chunks, ['one', 'two'], 'resumed: it arrives')
  readAsStream(accepted!, reads!)
  const streamed: string[] = []
  accepted!.on('data', (d: Buffer) => streamed.push(d.toString()))
  accepted!.resume()
  client.write('three')
  await flush()
  t.same(streamed, ['three'], 'data events after readAsStream')
  client.end()
  await once(accepted!, 'end')
  t.pass('end is seen')
})
