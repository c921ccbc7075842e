import { appendFileSync } from 'node:fs'

/**
 * Reliability figures. `npm run test:reliability` sets PORTICO_RELIABILITY_SCALE (longer
 * variants of the bounded loops) and PORTICO_FIGURES_FILE, and turns what the tests record here
 * into docs/RELIABILITY.md. Under plain `npm test` the scale is 1 and nothing is written.
 */
export const SCALE = Math.max(1, Number(process.env.PORTICO_RELIABILITY_SCALE ?? 1) || 1)

export const scaled = (n: number): number => Math.round(n * SCALE)

export interface Figure { case: string, tried: string, count: number | string, result: string }

export function figure (f: Figure): void {
  const out = process.env.PORTICO_FIGURES_FILE
  if (out !== undefined && out !== '') appendFileSync(out, JSON.stringify(f) + '\n')
}
