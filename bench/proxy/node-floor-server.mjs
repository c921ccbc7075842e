// The "node floor" peer (issue 21): the least an HTTP/1.1 proxy written in Node can cost per request on this
// machine — net/tls sockets in the ordinary way ('data' events, write()), request and response heads scanned for
// their end and Content-Length only, the request head forwarded as it came, upstream keep-alive sockets reused (one
// shared LIFO pool). No routing, no header rewriting, no validation, no timeouts, no chunked bodies, no pipelining:
// nothing portico must do. It answers GET/POST with Content-Length bodies (small, newconn, 1mib, upload-1mib, tls);
// every other scenario fails its pre-flight and shows as a failed row. Config JSON in argv[2].
import net from 'node:net'
import tls from 'node:tls'
import { readFileSync } from 'node:fs'

const c = JSON.parse(process.argv[2])
const idle = []
const CRLF2 = Buffer.from('\r\n\r\n')

/** Content-Length of a head (latin1 text), 0 when absent. */
function contentLength (head) {
  const i = head.search(/\r\ncontent-length:/i)
  return i < 0 ? 0 : parseInt(head.slice(head.indexOf(':', i) + 1), 10)
}

/** Feeds bytes of consecutive messages; calls onHead(headBuf, bodyLength) and onBody(chunk) and onEnd(). */
function framer (onHead, onBody, onEnd) {
  let pending = null
  let left = -1 // body bytes left; -1: reading a head
  return chunk => {
    while (chunk.length > 0) {
      if (left < 0) {
        const buf = pending === null ? chunk : Buffer.concat([pending, chunk])
        const end = buf.indexOf(CRLF2)
        if (end < 0) { pending = buf; return }
        pending = null
        const head = buf.subarray(0, end + 4)
        left = contentLength(head.latin1Slice(0, head.length))
        onHead(head, left)
        chunk = buf.subarray(end + 4)
        if (left === 0) { left = -1; onEnd() }
        continue
      }
      const n = Math.min(left, chunk.length)
      onBody(chunk.subarray(0, n))
      left -= n
      chunk = chunk.subarray(n)
      if (left === 0) { left = -1; onEnd() }
    }
  }
}

function upstream () {
  const s = idle.pop()
  if (s !== undefined) return s
  const up = net.connect(c.upstream, '127.0.0.1')
  up.setNoDelay(true)
  up.on('error', () => up.destroy())
  up.on('close', () => { const i = idle.indexOf(up); if (i >= 0) idle.splice(i, 1) })
  return up
}

const CLOSE = /\r\nconnection: *close\r\n/i

function serve (client) {
  client.setNoDelay?.(true)
  let up
  let close = false // the client asked for Connection: close (newconn): end after the response
  const toClient = framer(
    head => {
      if (close) head = Buffer.from(head.latin1Slice(0, head.length - 2) + 'connection: close\r\n\r\n', 'latin1')
      client.write(head)
    },
    body => { client.write(body) },
    () => { up.removeListener('data', toClient); idle.push(up); up = undefined; if (close) client.end() }
  )
  const fromClient = framer(
    head => {
      const text = head.latin1Slice(0, head.length)
      // The upstream connection stays reusable: the client's close is not forwarded.
      if (CLOSE.test(text)) { close = true; head = Buffer.from(text.replace(CLOSE, '\r\n'), 'latin1') }
      up = upstream()
      up.on('data', toClient)
      up.write(head)
    },
    body => { up.write(body) },
    () => {}
  )
  client.on('data', fromClient)
  client.on('error', () => client.destroy())
  client.on('close', () => { if (up !== undefined) up.destroy() })
}

net.createServer(serve).listen(c.http, '127.0.0.1')
tls.createServer({ cert: readFileSync(c.cert), key: readFileSync(c.key), ALPNProtocols: ['http/1.1'] }, serve).listen(c.https, '127.0.0.1')
