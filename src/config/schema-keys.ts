import { z } from 'zod'

/** The keys an object schema accepts at a config path, for "did you mean" hints. */
export function keysAt (schema: z.ZodType, path: ReadonlyArray<PropertyKey>): string[] {
  let node: z.ZodType | undefined = schema
  for (const segment of path) {
    node = typeof segment === 'number' ? elementOf(node) : fieldOf(node, String(segment))
    if (node === undefined) return []
  }
  const obj = unwrap(node)
  return obj instanceof z.ZodObject ? Object.keys(obj.shape) : []
}

function unwrap (s: z.ZodType | undefined): z.ZodType | undefined {
  let cur = s
  for (let i = 0; i < 16 && cur !== undefined; i++) {
    if (cur instanceof z.ZodOptional || cur instanceof z.ZodNullable || cur instanceof z.ZodDefault || cur instanceof z.ZodPrefault) {
      cur = cur.unwrap() as z.ZodType
    } else if (cur instanceof z.ZodPipe) {
      cur = cur.in as z.ZodType
    } else {
      return cur
    }
  }
  return cur
}

function elementOf (s: z.ZodType | undefined): z.ZodType | undefined {
  const u = unwrap(s)
  if (u instanceof z.ZodArray) return u.element as z.ZodType
  if (u instanceof z.ZodUnion) {
    for (const o of u.options) { const e = elementOf(o as z.ZodType); if (e !== undefined) return e }
  }
  return undefined
}

function fieldOf (s: z.ZodType | undefined, key: string): z.ZodType | undefined {
  const u = unwrap(s)
  if (u instanceof z.ZodObject) return u.shape[key] as z.ZodType | undefined
  if (u instanceof z.ZodRecord) return u.valueType as z.ZodType
  return undefined
}

/** Every key path the schema accepts, e.g. `routes[].proxy.timeouts.connect` (for docs checks). */
export function allKeyPaths (schema: z.ZodType, prefix = ''): string[] {
  const out: string[] = []
  const u = unwrap(schema)
  if (u instanceof z.ZodObject) {
    for (const [k, v] of Object.entries(u.shape)) {
      const p = prefix === '' ? k : `${prefix}.${k}`
      out.push(p, ...allKeyPaths(v as z.ZodType, p))
    }
  } else if (u instanceof z.ZodArray) {
    out.push(...allKeyPaths(u.element as z.ZodType, `${prefix}[]`))
  } else if (u instanceof z.ZodUnion) {
    for (const o of u.options) out.push(...allKeyPaths(o as z.ZodType, prefix))
  }
  return [...new Set(out)]
}

/** Key paths (as `allKeyPaths` writes them) whose schema is `field`, e.g. every duration. */
export function keyPathsOf (schema: z.ZodType, field: z.ZodType): Set<string> {
  const target = unwrap(field)
  return new Set(allKeyPaths(schema).filter(p => unwrap(nodeAt(schema, p)) === target))
}

function nodeAt (schema: z.ZodType, keyPath: string): z.ZodType | undefined {
  let node: z.ZodType | undefined = schema
  for (const part of keyPath.split('.')) {
    const [key, ...arrays] = part.split('[]')
    node = fieldOf(node, key!)
    for (let i = 0; i < arrays.length; i++) node = elementOf(node)
  }
  return node
}
