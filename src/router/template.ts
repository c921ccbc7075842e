/**
 * `{name}` templates (target URLs, redirect locations) compiled once into literal/variable
 * parts, so rendering on the request path is a single join with no regex.
 */
import type { Vars } from '../util/host-pattern.js'
export type { Vars }

export interface Template {
  readonly source: string
  readonly variables: readonly string[]
  render (vars: Vars): string
}

export function compileTemplate (source: string): Template {
  const parts: string[] = []
  const names: string[] = []
  const re = /\{([a-zA-Z_][a-zA-Z0-9_]*)\}/g
  let last = 0
  for (let m = re.exec(source); m !== null; m = re.exec(source)) {
    parts.push(source.slice(last, m.index))
    names.push(m[1] as string)
    last = m.index + m[0].length
  }
  parts.push(source.slice(last))
  if (names.length === 0) return { source, variables: names, render: () => source }
  return {
    source,
    variables: names,
    render (vars) {
      let out = parts[0] as string
      for (let i = 0; i < names.length; i++) out += (vars[names[i] as string] ?? '') + (parts[i + 1] as string)
      return out
    }
  }
}
