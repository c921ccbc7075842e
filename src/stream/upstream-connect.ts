import net, { type Socket } from 'node:net'

export interface Target { host: string, port: number }

/**
 * Connects to the first target that answers within `connectMs`, trying them in order (static
 * pools fail over; Docker candidates come ranked, maintenance last). `alive` stops the loop when
 * the client went away meanwhile.
 */
export async function connectFirst (targets: readonly Target[], connectMs: number, alive: () => boolean):
Promise<{ socket: Socket, target: Target } | { error: string }> {
  let last = 'no upstream'
  for (const target of targets) {
    if (!alive()) return { error: 'client closed' }
    const r = await connectOne(target, connectMs)
    if (typeof r !== 'string') return { socket: r, target }
    last = `${target.host}:${target.port}: ${r}`
  }
  return { error: last }
}

async function connectOne (t: Target, connectMs: number): Promise<Socket | string> {
  return await new Promise(resolve => {
    const s = net.connect({ host: t.host, port: t.port, allowHalfOpen: true })
    const timer = setTimeout(() => { s.destroy(); resolve('connect timeout') }, connectMs)
    s.once('connect', () => { clearTimeout(timer); s.removeAllListeners('error'); resolve(s) })
    s.once('error', (err: NodeJS.ErrnoException) => { clearTimeout(timer); s.destroy(); resolve(err.code ?? err.message) })
  })
}
