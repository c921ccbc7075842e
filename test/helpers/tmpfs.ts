import type { Test } from 'tap'
import { execFile } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** A small tmpfs the test owns (root): filled up (ENOSPC) or remounted read-only (EROFS, even for root). */
export async function tmpfs (t: Test, dir: string, size: string): Promise<{ fill: () => Promise<void>, readOnly: (ro: boolean) => Promise<void> }> {
  await mkdir(dir, { recursive: true })
  await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir])
  t.teardown(async () => { await run('umount', ['-l', dir]).catch(() => {}) })
  return {
    fill: async () => { await run('sh', ['-c', `dd if=/dev/zero of=${dir}/filler bs=4k 2>/dev/null; true`]) },
    readOnly: async ro => { await run('mount', ['-o', `remount,${ro ? 'ro' : 'rw'}`, dir]) }
  }
}
