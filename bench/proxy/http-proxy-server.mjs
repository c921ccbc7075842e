// The "minimal node proxy" peer: http-proxy with a keep-alive agent, same routes as the others
// (plain HTTP/1.1 and HTTPS/1.1 listeners; http-proxy has no HTTP/2). Config JSON in argv[2].
import http from 'node:http'
import https from 'node:https'
import { readFileSync } from 'node:fs'
import httpProxy from 'http-proxy'

const c = JSON.parse(process.argv[2])
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 })
const proxy = httpProxy.createProxyServer({ agent, xfwd: true })
const UAP = /^http-(127)-(\d+)-(\d+)-(\d+)-(\d+)\.uap\.bench\.test$/i
const up = `http://127.0.0.1:${c.upstream}`

function target (req) {
  const m = UAP.exec((req.headers.host ?? '').replace(/:\d+$/, ''))
  if (m) return `http://${m[1]}.${m[2]}.${m[3]}.${m[4]}:${m[5]}`
  const p = req.url
  if (p.startsWith('/dead/')) return `http://127.0.0.1:${c.dead}`
  if (p === '/ws' || p.startsWith('/ws/') || p.startsWith('/ws?')) return `http://127.0.0.1:${c.ws}`
  return up // /auth/, /static/, /admin/, /api/ and the rest all go to the same upstream
}

proxy.on('error', (err, req, res) => {
  if (res.writeHead && !res.headersSent) { res.writeHead(502, { 'content-type': 'text/plain' }); res.end('bad gateway\n') } else res.destroy?.()
  void err
})
const handler = (req, res) => proxy.web(req, res, { target: target(req) })
const upgrade = (req, socket, head) => proxy.ws(req, socket, head, { target: target(req) })
const [h, hs] = [http.createServer(handler), https.createServer({ cert: readFileSync(c.cert), key: readFileSync(c.key) }, handler)]
for (const s of [h, hs]) { s.keepAliveTimeout = 120_000; s.on('upgrade', upgrade) }
h.listen(c.http, '127.0.0.1')
hs.listen(c.https, '127.0.0.1')
