import t from 'tap'
import net from 'node:net'
import tls from 'node:tls'
import fc from 'fast-check'
import { decodeProxyHeader, encodeV1, encodeV2, parseClientHello, sslTlvs, compileTcpTable } from '../../src/stream/index.js'
import { ConfigError, parseConfigText } from '../../src/config/index.js'

/** The first bytes a real Node TLS client sends: its ClientHello. */
async function captureHello (servername: string | undefined): Promise<Buffer> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer(s => {
      s.once('data', (d: Buffer) => { resolve(d); s.destroy(); server.close() })
    })
    server.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, rejectUnauthorized: false, ...(servername === undefined ? {} : { servername }) })
      c.on('error', () => {})
    })
    server.on('error', reject)
  })
}

t.test('ClientHello: SNI from a real client, every truncation asks for more, mutations never throw', async t => {
  const hello = await captureHello('App.Example.org')
  t.match(parseClientHello(hello), { kind: 'hello', sni: 'app.example.org', length: hello.length })
  t.match(parseClientHello(await captureHello(undefined)), { kind: 'hello', sni: undefined })
  const notMore = Array.from({ length: hello.length }, (_, n) => n).filter(n => parseClientHello(hello.subarray(0, n)).kind !== 'more')
  t.same(notMore, [], 'every strict prefix asks for more bytes')
  t.match(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')), { kind: 'invalid' })
  t.match(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff])), { kind: 'invalid', reason: 'bad record length 65535' })
  fc.assert(fc.property(fc.integer({ min: 0, max: hello.length - 1 }), fc.integer({ min: 0, max: 255 }), (i, v) => {
    const m = Buffer.from(hello)
    m[i] = v
    const r = parseClientHello(m)
    return r.kind === 'hello' || r.kind === 'invalid' || r.kind === 'more'
  }), { numRuns: 2000 })
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), bytes => { parseClientHello(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), bytes])); return true }), { numRuns: 2000 })
})

t.test('PROXY headers: v1/v2 round trips (IPv4, IPv6, mapped), TLVs, partial input', async t => {
  const v4 = { address: '::ffff:192.0.2.7', port: 5555 }
  const dst = { address: '127.0.0.1', port: 443 }
  t.equal(encodeV1(v4, dst).toString(), 'PROXY TCP4 192.0.2.7 127.0.0.1 5555 443\r\n')
  t.equal(encodeV1({ address: '::1', port: 1 }, dst).toString(), 'PROXY UNKNOWN\r\n', 'mixed families')
  const tlvs = sslTlvs({ version: 'TLSv1.3', verified: true, subject: 'CN=client-1', fingerprint: 'AA:BB' })
  for (const [src, d] of [[v4, dst], [{ address: '2001:db8::1', port: 1 }, { address: '::1', port: 2 }]] as const) {
    for (const encoded of [encodeV1(src, d), encodeV2(src, d, tlvs)]) {
      const r = decodeProxyHeader(Buffer.concat([encoded, Buffer.from('payload')]))
      if (r.kind !== 'header') throw new Error(r.kind)
      t.equal(r.length, encoded.length)
      t.same([r.source?.address, r.source?.port, r.destination?.port], [src.address.replace('::ffff:', ''), src.port, d.port])
      t.same(Array.from({ length: encoded.length }, (_, n) => n).filter(n => decodeProxyHeader(encoded.subarray(0, n)).kind !== 'more'), [], 'every strict prefix asks for more')
    }
  }
  const r = decodeProxyHeader(encodeV2(v4, dst, tlvs))
  t.same(r.kind === 'header' ? r.tlvs.map(x => x.type) : [], [0x20, 0xe0])
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), bytes => { decodeProxyHeader(Buffer.from(bytes)); return true }), { numRuns: 2000 })
})

t.test('tcp config: shapes that cannot work are refused with the key; SNI routes before the default', async t => {
  const base = 'state_dir: /tmp/x\nlisteners:\n  - { name: h, address: "127.0.0.1:0" }\n  - { name: s, address: "127.0.0.1:0", protocol: tcp }\n  - { name: p, address: "127.0.0.1:0", protocol: tcp, tls_passthrough: true }\n'
  const problems = (yaml: string): string => {
    try { parseConfigText(base + yaml, 'x.yaml'); return '' } catch (err) { return (err as ConfigError).problems.map(p => `${p.key}: ${p.message}`).join('\n') }
  }
  t.match(problems('tcp_routes: [{ listeners: [h], upstreams: ["127.0.0.2:1"] }]'), /not a protocol: tcp listener/)
  t.match(problems('tcp_routes: [{ listeners: [s], sni: [a.test], upstreams: ["127.0.0.2:1"] }]'), /sees no SNI name/)
  t.match(problems('tcp_routes: [{ listeners: [s] }]'), /exactly one of upstreams or docker/)
  t.match(problems('tcp_routes: [{ listeners: [s], upstreams: ["127.0.0.2"] }]'), /HOST:PORT/)
  t.match(problems('tcp_routes: [{ listeners: [s], docker: { name: x, port: 1 } }]'), /top-level docker section/)
  t.match(problems('routes: [{ listeners: [s], respond: {} }]'), /use tcp_routes/)
  const ok = parseConfigText(base + `tcp_routes:
  - { name: fallback, listeners: [p], upstreams: ["127.0.0.2:1"] }
  - { name: a, listeners: [p], sni: ["*.a.test"], upstreams: ["127.0.0.3:1"] }`, 'x.yaml')
  const table = compileTcpTable(ok)
  t.equal(table.pick('p', 'x.a.test')?.name, 'a')
  t.equal(table.pick('p', 'y.x.a.test')?.name, 'fallback', 'a wildcard covers one label')
  t.equal(table.pick('p', undefined)?.name, 'fallback')
  t.equal(table.pick('s', undefined), undefined)
})
