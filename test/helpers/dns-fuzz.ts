/** mulberry32: a small seeded PRNG, so a failing case can be replayed from its seed. */
export function prng (seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** A query as a stub resolver sends it (RD set; with EDNS0 and a cookie when `edns`). */
export function queryPacket (id: number, name: string, type: number, edns: boolean): Buffer {
  const labels = name.split('.').filter(Boolean).map(l => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]))
  const head = Buffer.from([id >> 8, id & 255, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, edns ? 1 : 0])
  const question = Buffer.concat([...labels, Buffer.from([0, type >> 8, type & 255, 0, 1])])
  const opt = edns ? Buffer.from('0000291000000000000c000a00089a4f0c4bf2f0a1d1', 'hex') : Buffer.alloc(0)
  return Buffer.concat([head, question, opt])
}

/** Seeds for fuzzers without a dig capture of their own. */
export const QUERY_CORPUS: readonly Buffer[] = [
  queryPacket(0x8b3f, 'nginx.bigco.hpc.test', 1, true),
  queryPacket(0x1c2d, 'hpc.test', 6, false),
  queryPacket(0x7701, '10.9.29.172.in-addr.arpa', 12, true),
  queryPacket(0x0102, '_acme-challenge.a.test', 16, true)
]

/** A hostile packet: a mutated real query (bit flips, cuts, count fields, splices) or random bytes. */
export function fuzzPacket (rand: () => number, corpus: readonly Buffer[]): Buffer {
  const int = (n: number): number => Math.floor(rand() * n)
  const kind = int(6)
  if (kind === 0 || corpus.length === 0) return Buffer.from(Array.from({ length: int(600) }, () => int(256)))
  const b = Buffer.from(corpus[int(corpus.length)]!)
  if (kind === 1) for (let i = int(4) + 1; i > 0; i--) { const at = int(b.length); b[at] = b[at]! ^ (1 << int(8)) }
  if (kind === 2) return b.subarray(0, int(b.length + 1))
  if (kind === 3 && b.length >= 12) b.writeUInt16BE(rand() < 0.5 ? 0xffff : int(65536), 4 + 2 * int(4))
  if (kind === 4) return Buffer.concat([b, Buffer.from(Array.from({ length: int(300) }, () => int(256)))])
  if (kind === 5 && b.length > 12) for (let i = 12 + int(b.length - 12); i < b.length && rand() < 0.9; i++) b[i] = [0, 63, 64, 0xc0, 0xff, int(256)][int(6)]!
  return b
}
