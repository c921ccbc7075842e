import t from 'tap'
import net from 'node:net'
import { startPortico, testConfig } from '../helpers/portico.js'
import { httpUpstream } from '../helpers/upstreams.js'

/**
 * A client may send its requests and then half-close its side (`printf … | nc -N`, scripts,
 * some load tools): every request it sent is still answered, in order, then the connection ends —
 * on both HTTP/1.1 engines, as nginx and node:http do. A request whose body the FIN cut never
 * reaches the upstream as a complete one.
 */
const LISTENERS = ['node', 'portico'] as const

async function exchange (port: number, bytes: string, waitMs = 5000): Promise<{ text: string, closed: boolean }> {
  return await new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(bytes))
    let text = ''
    const timer = setTimeout(() => { s.destroy(); resolve({ text, closed: false }) }, waitMs)
    s.on('data', (d: Buffer) => { text += d.toString('latin1') })
    s.on('close', () => { clearTimeout(timer); resolve({ text, closed: true }) })
    s.on('error', reject)
  })
}

t.test('requests sent before the client half-closes are all answered, then the connection ends', async t => {
  const seen: string[] = []
  const up = await httpUpstream(t, (req, res) => {
    let n = 0
    req.on('data', (d: Buffer) => { n += d.length })
    // A moment before answering: the FIN is read while the first answer is still being produced.
    req.on('end', () => { seen.push(`${req.method ?? ''} ${req.url ?? ''} ${n}`); setTimeout(() => res.end(`answer ${req.url ?? ''}`), 50) })
  }, '127.0.0.6')
  const p = await startPortico({ config: testConfig({ listeners: LISTENERS.map(name => ({ name, engine: name })), routes: `  - { host: "*", proxy: { upstreams: ["${up.origin}"] } }` }) })
  t.teardown(() => p.stop('SIGKILL'))
  for (const l of LISTENERS) {
    const port = p.ports[l] as number
    const three = await exchange(port, `GET /a HTTP/1.1\r\nHost: a.test\r\n\r\nPOST /b HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nxyzGET /c HTTP/1.1\r\nHost: a.test\r\n\r\n`)
    t.same([...three.text.matchAll(/answer (\/[a-z])/g)].map(m => m[1]), ['/a', '/b', '/c'], `${l}: three pipelined requests, three answers in order`)
    t.ok(three.closed, `${l}: then the connection ended`)
    seen.length = 0
    const cut = await exchange(port, 'POST /cut HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100\r\n\r\nonly part of it')
    t.ok(cut.closed, `${l}: a body cut by the FIN: the connection closes`)
    t.notOk(seen.some(s => s === 'POST /cut 100'), `${l}: the upstream never got it as a complete request (${seen.join(', ') || 'nothing'})`)
  }
})
