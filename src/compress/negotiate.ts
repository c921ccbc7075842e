export type Encoding = 'br' | 'gzip'

/**
 * The content coding to use for an Accept-Encoding value (RFC 9110 §12.5.3): the highest q
 * among the offered ones, ties broken by the server's order; `*` stands for codings not named;
 * q=0 refuses. Undefined: send identity (also when identity itself is refused: a 406 helps nobody).
 */
export function chooseEncoding (accept: string | undefined, offered: readonly Encoding[]): Encoding | undefined {
  if (accept === undefined || accept === '') return undefined
  const q = new Map<string, number>()
  for (const part of accept.split(',')) {
    const [name = '', ...params] = part.split(';')
    const coding = name.trim().toLowerCase()
    if (coding === '') continue
    let weight = 1
    for (const p of params) {
      const m = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(p)
      if (m !== null) weight = Number(m[1])
    }
    // x-gzip is gzip (RFC 9110 §8.4.1.3).
    const key = coding === 'x-gzip' ? 'gzip' : coding
    q.set(key, Math.max(weight, q.get(key) ?? 0))
  }
  const star = q.get('*')
  let best: Encoding | undefined
  let bestQ = 0
  for (const e of offered) {
    const w = q.get(e) ?? star ?? 0
    if (w > bestQ) { best = e; bestQ = w }
  }
  return best
}
