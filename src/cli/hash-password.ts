import bcrypt from 'bcryptjs'
import type { Readable, Writable } from 'node:stream'

export const DEFAULT_COST = 10

interface Io { stdin: Readable & { isTTY?: boolean, setRawMode?: (raw: boolean) => unknown }, stdout: Writable, stderr: Writable }

/**
 * `portico hash-password`: a bcrypt hash for basic_auth.users. The password comes from stdin
 * (one line; a trailing newline is not part of it) or, on a terminal, from a prompt that does
 * not echo and asks twice. Never from the command line, where `ps` and shell history see it.
 */
export async function hashPasswordCommand (costText: string | undefined, io: Io): Promise<number> {
  const cost = costText === undefined ? DEFAULT_COST : Number(costText)
  if (!Number.isInteger(cost) || cost < 4 || cost > 15) {
    io.stderr.write(`portico hash-password: --cost is an integer from 4 to 15, not ${JSON.stringify(costText)}\n`)
    return 2
  }
  let password: string
  if (io.stdin.isTTY === true && io.stdin.setRawMode !== undefined) {
    const tty = terminalLines(io)
    try {
      password = await tty.next('Password: ')
      if (await tty.next('Again: ') !== password) { io.stderr.write('portico hash-password: the passwords differ\n'); return 1 }
    } catch {
      io.stderr.write('\nportico hash-password: aborted\n')
      return 1
    } finally {
      tty.close()
    }
  } else {
    password = (await readAll(io.stdin)).replace(/\r?\n$/, '')
  }
  if (password === '') { io.stderr.write('portico hash-password: empty password\n'); return 1 }
  // bcrypt reads at most 72 bytes: a longer password would silently match its first 72.
  if (Buffer.byteLength(password) > 72) {
    io.stderr.write('portico hash-password: bcrypt uses at most 72 bytes of a password; choose a shorter one\n')
    return 1
  }
  io.stdout.write(`${await bcrypt.hash(password, cost)}\n`)
  return 0
}

async function readAll (stream: Readable): Promise<string> {
  const parts: Buffer[] = []
  for await (const chunk of stream) parts.push(Buffer.from(chunk as Buffer))
  return Buffer.concat(parts).toString('utf8')
}

/** Lines typed on the terminal without echo (raw mode; Enter ends one, Ctrl-C aborts); keystrokes typed ahead are kept. */
function terminalLines (io: Io): { next: (question: string) => Promise<string>, close: () => void } {
  const lines: string[] = []
  let waiter: { resolve: (line: string) => void, reject: (err: Error) => void } | undefined
  let text = ''
  let aborted = false
  const onData = (d: Buffer): void => {
    for (const ch of d.toString('utf8')) {
      if (ch === '\u0003') { aborted = true; waiter?.reject(new Error('aborted')); waiter = undefined; return }
      if (ch === '\r' || ch === '\n') { lines.push(text); text = '' } else if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1)
      else text += ch
    }
    if (waiter !== undefined && lines.length > 0) { io.stderr.write('\n'); waiter.resolve(lines.shift()!); waiter = undefined }
  }
  io.stdin.setRawMode?.(true)
  io.stdin.on('data', onData)
  io.stdin.resume()
  return {
    async next (question) {
      io.stderr.write(question)
      if (aborted) throw new Error('aborted')
      if (lines.length > 0) { io.stderr.write('\n'); return lines.shift()! }
      return await new Promise<string>((resolve, reject) => { waiter = { resolve, reject } })
    },
    close () {
      io.stdin.off('data', onData)
      io.stdin.setRawMode?.(false)
      io.stdin.pause()
    }
  }
}
