import http from 'node:http'
import https from 'node:https'

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
