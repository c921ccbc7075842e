import type { Socket } from 'node:net'
import { ClientConnection, type EngineDeps } from './connection.js'

/**
 * The engine's side of one listener: serves each accepted (and, for TLS, handshaken) HTTP/1.1
 * socket, and knows its connections so a drain can close the idle ones. A connection that
 * became a tunnel leaves this set.
 */
export class EngineListener {
  readonly #connections = new Map<Socket, ClientConnection>()
  readonly #deps: EngineDeps

  constructor (deps: Omit<EngineDeps, 'detach'>) {
    this.#deps = { ...deps, detach: socket => { this.#connections.delete(socket) } }
  }

  serve (socket: Socket): void {
    const c = new ClientConnection(socket, this.#deps)
    this.#connections.set(socket, c)
    socket.once('close', () => this.#connections.delete(socket))
  }

  /** Closes connections that are between requests; busy ones finish their exchange first. */
  closeIdle (): void {
    for (const c of this.#connections.values()) if (c.idle) c.socket.destroy()
  }
}
