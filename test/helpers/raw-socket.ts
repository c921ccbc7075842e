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
