/** Parses "250ms", "10s", "5m", "1h", "2d" or a bare number of seconds into milliseconds. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/

export function parseDuration (value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined
  const m = DURATION.exec(value.trim())
  if (m === null) return undefined
  return Math.round(Number(m[1]) * UNIT_MS[m[2] as string]!)
}
