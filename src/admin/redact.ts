/** Copies a config for display with secret-looking values replaced; *_file paths stay visible. */
const SECRET = /(^|_)(token|secret|password|passwd|api_key|private_key|hmac|tsig_secret)$/i

export function redact (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact)
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = SECRET.test(k) && typeof v === 'string' ? '[redacted]' : redact(v)
  return out
}
