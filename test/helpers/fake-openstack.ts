import https from 'node:https'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import type { IncomingHttpHeaders } from 'node:http'
import type { Pki } from './pki.js'

export interface Seen { method: string, url: string, headers: IncomingHttpHeaders, bytes: number }

/**
 * A loopback HTTPS "OpenStack" endpoint: Keystone's token call answers with X-Subject-Token
 * (and its own CORS headers, which portico must replace), uploads are counted, downloads of
 * /v2/images/big?N stream N bytes.
 */
export async function startFakeOpenStack (pki: Pki, host = '127.0.0.1'): Promise<{ port: number, seen: Seen[], close: () => void }> {
  const seen: Seen[] = []
  const server = https.createServer({ cert: pki.cert, key: pki.key }, (req, res) => {
    let bytes = 0
    req.on('data', (d: Buffer) => { bytes += d.length })
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes })
      const url = req.url ?? '/'
      if (url.startsWith('/v2/images/big?')) {
        const n = Number(url.split('?')[1])
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n })
        const chunk = Buffer.alloc(64 * 1024, 0x62)
        let left = n
        const pump = (): void => {
          while (left > 0) {
            const c = left >= chunk.length ? chunk : chunk.subarray(0, left)
            left -= c.length
            if (!res.write(c)) { res.once('drain', pump); return }
          }
          res.end()
        }
        pump()
        return
      }
      res.writeHead(url.startsWith('/v3/auth/tokens') ? 201 : 200, {
        'content-type': 'application/json',
        'x-subject-token': 'gAAAAA-token',
        'x-openstack-request-id': 'req-1',
        'access-control-allow-origin': '*',
        'access-control-expose-headers': 'X-Wrong',
        vary: 'Accept-Encoding'
      })
      res.end(JSON.stringify({ method: req.method, url, host: req.headers.host, bytes, auth: req.headers['x-auth-token'] ?? null }))
    })
  })
  server.listen(0, host)
  await once(server, 'listening')
  return { port: (server.address() as AddressInfo).port, seen, close: () => { server.closeAllConnections(); server.close() } }
}
