import { DURATION_PATHS } from '../config/index.js'

/**
 * `/config` shows durations as `10s`, `500ms`, `5m` rather than milliseconds, which a reader
 * pasting them back would take for seconds (a bare number in the file means seconds).
 */
export function formatDurations (value: unknown, path = ''): unknown {
  if (Array.isArray(value)) return value.map(v => formatDurations(v, `${path}[]`))
  if (typeof value === 'number' && DURATION_PATHS.has(path)) return duration(value)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, formatDurations(v, path === '' ? k : `${path}.${k}`)]))
}

function duration (ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}
