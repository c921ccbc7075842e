import dgram from 'node:dgram'
import net from 'node:net'
import { parentPort, workerData } from 'node:worker_threads'
import { fuzzPacket, prng, QUERY_CORPUS } from './dns-fuzz.js'

/**
 * Worker-thread entry: sends `udp` fuzz packets over UDP and `tcp` over TCP (length-prefixed, on
 * a few connections at a time) to a DNS server on loopback, as fast as it answers,
 * then posts { udp, tcp, answers }. A thread of its own, so the flood does not slow the test's
 * HTTP client down on its event loop.
 */
const { port, udp: udpCount, tcp: tcpCount, seed } = workerData as { port: number, udp: number, tcp: number, seed: number }
const rand = prng(seed)
let answers = 0

const sock = dgram.createSocket('udp4')
sock.on('message', () => { answers++ })
await new Promise<void>(resolve => sock.bind(0, '127.0.0.1', resolve))
// Paced by the answers: a batch, then until half of it is answered (or 5 ms), so the packets reach
// the server's parser instead of overflowing the socket buffer.
const BATCH = 32
for (let sent = 0; sent < udpCount; sent += BATCH) {
  const before = answers
  await Promise.all(Array.from({ length: Math.min(BATCH, udpCount - sent) }, async () => {
    await new Promise<void>(resolve => sock.send(fuzzPacket(rand, QUERY_CORPUS), port, '127.0.0.1', () => resolve()))
  }))
  for (let waited = 0; answers - before < BATCH / 2 && waited < 5; waited++) await new Promise(resolve => setTimeout(resolve, 1))
}

const PER_CONNECTION = 200
const connection = async (count: number): Promise<void> => {
  await new Promise<void>(resolve => {
    const s = net.connect(port, '127.0.0.1')
    s.on('data', () => { answers++ })
    s.on('error', () => resolve())
    s.on('close', () => resolve())
    s.setTimeout(5000, () => s.destroy())
    const frames = Array.from({ length: count }, () => {
      const p = fuzzPacket(rand, QUERY_CORPUS)
      return Buffer.concat([Buffer.from([p.length >> 8, p.length & 255]), p])
    })
    s.end(Buffer.concat(frames))
  })
}
for (let left = tcpCount; left > 0;) {
  const round = Array.from({ length: 4 }, () => { const n = Math.min(PER_CONNECTION, left); left -= n; return n }).filter(n => n > 0)
  await Promise.all(round.map(connection))
}
await new Promise(resolve => setTimeout(resolve, 200))
sock.close()
parentPort!.postMessage({ udp: udpCount, tcp: tcpCount, answers })
