/**
 * One socket's read buffer, reused from read to read (no allocation per read): it starts small
 * (a request or response head and a small body) and a socket whose read fills it moves to the
 * large size for its life, so a large body takes few read syscalls — for at most `maxLarge`
 * sockets of the same budget at once (the others stay small). A user that keeps a reference to
 * the bytes past the read's callback (a write left queued, a stash) calls `lend()`: the next
 * read goes into a fresh buffer.
 */
const EMPTY = Buffer.alloc(0)

export interface LargeBudget { readonly maxLarge: number, used: number }

export class ReadBuffer {
  #buf: Buffer
  #lent = false
  #filled = false
  readonly #small: number
  readonly #large: number
  readonly #budget: LargeBudget

  constructor (small: number, large: number, budget: LargeBudget) {
    this.#small = small
    this.#large = large
    this.#budget = budget
    this.#buf = Buffer.allocUnsafe(small)
  }

  /** The buffer for the next read: the same one unless its bytes are still in use or it grows. */
  readonly next = (): Buffer => {
    let size = this.#buf.length
    if (this.#filled && size === this.#small && this.#budget.used < this.#budget.maxLarge) { size = this.#large; this.#budget.used++ }
    if (this.#lent || size !== this.#buf.length) this.#buf = Buffer.allocUnsafe(size)
    this.#lent = false
    this.#filled = false
    return this.#buf
  }

  /** The current buffer's size. */
  get size (): number { return this.#buf.length }

  /** After a read of `nread` bytes into `buf`: a full read asks for the large size. */
  read (nread: number, buf: Uint8Array): void { this.#filled = nread === buf.length }

  /** The bytes of the last read stay referenced: the next read must not overwrite them. */
  lend (): void { this.#lent = true }

  /** The socket closed or reads elsewhere now: the buffer goes (a large one back to the budget). */
  release (): void {
    if (this.#buf.length === this.#large && this.#large !== this.#small) this.#budget.used--
    this.#buf = EMPTY
  }
}
