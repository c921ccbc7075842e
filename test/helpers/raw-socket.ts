import net from 'node:net'
import { once } from 'node:events'

/**
 * One raw TCP exchange with 127.0.0.1:port: write bytes (latin1) or let `write` drive the socket,
 * then collect what comes back until the server closes or `waitMs` passes. No half-close: Node
 * aborts requests whose client sent FIN.
 */
export async function rawExchange (port: number, write: string | ((s: net.Socket) => void | Promise<void>), waitMs: number, localAddress = '127.0.0.1'): Promise<{ text: string, closedAfterMs: number | undefined }> {
  const started = Date.now()
  const s = net.connect({ port, host: '127.0.0.1', localAddress })
  let text = ''
  let closedAfterMs: number | undefined
  s.setEncoding('latin1')
  s.on('data', (d: string) => { text += d })
  s.on('error', () => {})
  s.on('close', () => { closedAfterMs = Date.now() - started })
  await once(s, 'connect')
  if (typeof write === 'string') s.write(write, 'latin1'); else await write(s)
  const deadline = Date.now() + waitMs
  while (closedAfterMs === undefined && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  s.destroy()
  return { text, closedAfterMs }
}

/** Splits a byte stream of HTTP/1.1 responses into status lines and bodies; `heads`: indexes of answers to HEAD. */
export function responses (text: string, heads: readonly number[] = []): Array<{ status: string, head: string, body: string }> {
  const out: Array<{ status: string, head: string, body: string }> = []
  let rest = text
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n')
    if (end < 0) break
    const head = rest.slice(0, end)
    rest = rest.slice(end + 4)
    const status = head.slice(0, head.indexOf('\r\n'))
    const cl = /\r\ncontent-length: *(\d+)/i.exec(head)
    let body = ''
    if (cl !== null) {
      body = rest.slice(0, Number(cl[1]))
      rest = rest.slice(Number(cl[1]))
    } else if (heads.includes(out.length)) {
      body = ''
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      for (;;) {
        const line = rest.indexOf('\r\n')
        const size = parseInt(rest.slice(0, line), 16)
        rest = rest.slice(line + 2)
        if (size === 0) { rest = rest.slice(rest.indexOf('\r\n') + 2); break }
        body += rest.slice(0, size)
        rest = rest.slice(size + 2)
      }
    } else if (!/^HTTP\/1\.1 (204|304)/.test(status)) {
      body = rest
      rest = ''
    }
    out.push({ status, head, body })
  }
  return out
}
