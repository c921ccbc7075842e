import http from 'node:http'
import https from 'node:https'
import http2 from 'node:http2'

export interface Reply { status: number, headers: http.IncomingHttpHeaders, body: string }

export interface SendOptions {
  path?: string
  method?: string
  headers?: Record<string, string>
  /** One buffer, or several written separately (chunked when no Content-Length is given). */
  body?: Buffer | Buffer[]
  agent?: http.Agent
  tls?: boolean
  timeoutMs?: number
}

/** One request to 127.0.0.1:port with the given Host header; resolves with the whole reply. */
export async function send (port: number, host: string, opts: SendOptions = {}): Promise<Reply> {
  return await new Promise((resolve, reject) => {
    const mod = opts.tls === true ? https : http
    const req = mod.request({ host: '127.0.0.1', port, path: opts.path ?? '/', method: opts.method ?? 'GET', headers: { host, ...opts.headers }, agent: opts.agent ?? false, rejectUnauthorized: false, servername: host.replace(/:\d+$/, '') }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error('client timeout')))
    if (Array.isArray(opts.body)) { for (const b of opts.body) req.write(b); req.end() } else req.end(opts.body)
  })
}

export interface H2Reply extends Reply { error?: string }

/**
 * One HTTP/2 request over TLS to 127.0.0.1:port (SNI and :authority = host). Header values may
 * be arrays: each element is sent as its own field (how browsers send cookie crumbs). A stream
 * reset or protocol error resolves with `error` set rather than rejecting.
 */
export async function sendH2 (port: number, host: string, opts: { path?: string, method?: string, headers?: Record<string, string | string[]>, body?: Buffer } = {}): Promise<H2Reply> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, servername: host.replace(/:\d+$/, '') })
  try {
    return await new Promise<H2Reply>(resolve => {
      const reply: H2Reply = { status: 0, headers: {}, body: '' }
      const done = (error?: string): void => resolve(error === undefined ? reply : { ...reply, error })
      session.on('error', err => done(err.message))
      const req = session.request({ ':path': opts.path ?? '/', ':method': opts.method ?? 'GET', ':authority': host, ...opts.headers })
      req.setTimeout(10_000, () => req.close(http2.constants.NGHTTP2_CANCEL))
      req.on('response', h => { reply.status = Number(h[':status']); reply.headers = h as http.IncomingHttpHeaders })
      req.setEncoding('utf8')
      req.on('data', (d: string) => { reply.body += d })
      req.on('end', () => done())
      req.on('error', err => done(err.message))
      req.on('close', () => done(req.rstCode === 0 ? undefined : `stream closed with code ${req.rstCode}`))
      req.end(opts.body)
    })
  } finally {
    session.close()
  }
}
