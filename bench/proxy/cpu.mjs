// CPU accounting from /proc: utime+stime (fields 14 and 15 of /proc/PID/stat, in clock ticks) summed
// over a process and all of its live descendants. Sampled before and after a measured run, the
// difference is the CPU the server under test spent on that run, whatever its process model
// (nginx master+worker, portico workers, a single Go or node process).
import { readFileSync, readdirSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100

// Fields after the parenthesised comm (which may itself contain spaces or parens).
function statFields (pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return s.slice(s.lastIndexOf(')') + 2).split(' ') // [0] is field 3 (state)
  } catch { return undefined } // the process exited between listing and reading
}

// All processes once: pid → { ppid, ticks }.
function snapshot () {
  const procs = new Map()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const f = statFields(name)
    if (f === undefined) continue
    procs.set(Number(name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) }) // fields 4, 14, 15
  }
  return procs
}

/** CPU seconds (user+system) used so far by `pid` and all its descendants. */
export function treeCpuSeconds (pid) {
  const procs = snapshot()
  const children = new Map()
  for (const [p, { ppid }] of procs) {
    if (!children.has(ppid)) children.set(ppid, [])
    children.get(ppid).push(p)
  }
  let ticks = 0
  const todo = [pid]
  while (todo.length > 0) {
    const p = todo.pop()
    ticks += procs.get(p)?.ticks ?? 0
    todo.push(...(children.get(p) ?? []))
  }
  return ticks / CLK_TCK
}
