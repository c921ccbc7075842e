import { watch, type FSWatcher } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename, dirname, resolve } from 'node:path'

export interface FileWatchOptions {
  debounceMs?: number
  pollMs?: number
}

/**
 * Calls `onChange` when the file changes. Watches the directory, not the inode: editors,
 * config management and Kubernetes ConfigMaps replace the file (rename-over, symlink swap),
 * which an inode watch would miss. A stat poll backs fs.watch up where it is unreliable
 * (network filesystems, some bind mounts). Changes are debounced into one call, and a change
 * both fs.watch and the poll saw is reported once.
 */
export function watchFile (file: string, onChange: () => void, opts: FileWatchOptions = {}): { close: () => void } {
  const path = resolve(file)
  const name = basename(path)
  const debounceMs = opts.debounceMs ?? 300
  let timer: NodeJS.Timeout | undefined
  let closed = false
  let last = ''
  const fire = (): void => {
    if (closed) return
    clearTimeout(timer)
    // The poll must not report the same save again: record what this call covers first.
    timer = setTimeout(() => { void signature().then(s => { last = s; if (!closed) onChange() }) }, debounceMs)
    timer.unref()
  }
  let watcher: FSWatcher | undefined
  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, filename) => {
      if (filename === null || filename === name || filename.toString() === name) fire()
    })
    watcher.on('error', () => { watcher?.close(); watcher = undefined })
  } catch {
    watcher = undefined
  }
  const signature = async (): Promise<string> => {
    try {
      const s = await stat(path)
      return `${s.ino}:${s.size}:${s.mtimeMs}`
    } catch {
      return 'missing'
    }
  }
  void signature().then(s => { last = s })
  const poll = setInterval(() => {
    void signature().then(s => {
      if (s !== last && last !== '') fire()
      last = s
    })
  }, opts.pollMs ?? 2000)
  poll.unref()
  return {
    close () {
      closed = true
      clearTimeout(timer)
      clearInterval(poll)
      watcher?.close()
    }
  }
}
