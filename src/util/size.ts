/** Parses "512", "10k", "64m", "1g" (binary units) into bytes. */
const UNIT: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 }
const SIZE = /^(\d+)\s*([kmg]?b?)$/i

export function parseSize (value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  const m = SIZE.exec(value.trim())
  if (m === null) return undefined
  return Number(m[1]) * UNIT[(m[2] as string).toLowerCase()]!
}
