/**
 * Rejects when `work` has not settled within `ms` (a stalled CA answers nothing, forever).
 * `onLate` runs once at the deadline; the work itself cannot be cancelled and keeps running.
 */
export async function withDeadline<T> (work: Promise<T>, ms: number, what: string, onLate?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      onLate?.()
      reject(new Error(`${what} did not finish within ${Math.round(ms / 1000)} s (the CA or a DNS check stalled)`))
    }, ms)
  })
  try {
    return await Promise.race([work, deadline])
  } finally {
    clearTimeout(timer)
  }
}
