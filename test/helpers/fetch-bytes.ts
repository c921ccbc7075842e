import http from 'node:http'
import https from 'node:https'
import http2 from 'node:http2'

export interface BytesReply { status: number, headers: http.IncomingHttpHeaders, body: Buffer }

export interface BytesOptions { path?: string, method?: string, headers?: Record<string, string>, tls?: boolean }

/** One HTTP/1.1 request (TLS with `tls`, self-signed accepted) to 127.0.0.1:port; the body as raw bytes (never decoded), for binary and compressed answers. */
export async function fetchBytes (port: number, host: string, opts: BytesOptions = {}): Promise<BytesReply> {
  return await new Promise((resolve, reject) => {
    const mod = opts.tls === true ? https : http
    const req = mod.request({ host: '127.0.0.1', port, path: opts.path ?? '/', method: opts.method ?? 'GET', headers: { host, ...opts.headers }, agent: false, rejectUnauthorized: false, servername: host }, res => {
      const chunks: Buffer[] = []
      res.on('data', (d: Buffer) => chunks.push(d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')))
    req.end()
  })
}

/** The same over HTTP/2 with TLS (self-signed accepted). */
export async function fetchBytesH2 (port: number, host: string, opts: BytesOptions = {}): Promise<BytesReply> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, servername: host })
  try {
    return await new Promise<BytesReply>((resolve, reject) => {
      session.on('error', reject)
      const req = session.request({ ':path': opts.path ?? '/', ':method': opts.method ?? 'GET', ':authority': host, ...opts.headers })
      req.setTimeout(10_000, () => req.close(http2.constants.NGHTTP2_CANCEL))
      let status = 0
      let headers: http.IncomingHttpHeaders = {}
      const chunks: Buffer[] = []
      req.on('response', h => { status = Number(h[':status']); headers = h as http.IncomingHttpHeaders })
      req.on('data', (d: Buffer) => chunks.push(d))
      req.on('end', () => resolve({ status, headers, body: Buffer.concat(chunks) }))
      req.on('error', reject)
      req.end()
    })
  } finally {
    session.close()
  }
}
