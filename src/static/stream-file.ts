import type { FileHandle } from 'node:fs/promises'
import type { Reply } from '../router/reply.js'

/**
 * Copies bytes [start, end] of an open file to the reply with backpressure: one 64 KiB read in
 * flight at most, the next only once the reply took the last one, so a multi-GB file to a slow
 * client holds one buffer, not the file. The handle is closed in every case; a read error after
 * the head aborts the response (never a short body that looks complete).
 */
export async function streamFile (fh: FileHandle, start: number, end: number, reply: Reply): Promise<number> {
  let gone = false
  let wake: (() => void) | undefined
  reply.onClose(() => { gone = true; wake?.() })
  let pos = start
  let sent = 0
  try {
    while (pos <= end && !gone) {
      const want = Math.min(CHUNK, end - pos + 1)
      const { bytesRead, buffer } = await fh.read(Buffer.allocUnsafe(want), 0, want, pos)
      if (bytesRead === 0) throw new Error('file shrank while it was sent')
      pos += bytesRead
      sent += bytesRead
      const chunk = bytesRead === want ? buffer : buffer.subarray(0, bytesRead)
      if (pos > end) { reply.end(chunk); return sent }
      if (!reply.write(chunk) && !gone) {
        await new Promise<void>(resolve => { wake = resolve; reply.onDrain(resolve) })
        wake = undefined
      }
    }
    if (!gone && start > end) reply.end()
    return sent
  } catch (err) {
    reply.destroy()
    throw err
  } finally {
    await fh.close().catch(() => {})
  }
}

const CHUNK = 64 * 1024
