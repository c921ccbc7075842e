import t from 'tap'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { allKeyPaths, configSchema } from '../../src/config/index.js'

// docs/CONFIG.md must document every key the schema accepts (and no key it does not).
t.test('every config key is documented', async t => {
  const doc = await readFile(resolve(import.meta.dirname, '../../docs/CONFIG.md'), 'utf8')
  const keys = allKeyPaths(configSchema)
  t.ok(keys.length > 40)
  for (const k of keys) t.ok(doc.includes(`\`${k}\``), k)
  const documented = [...doc.matchAll(/^\| `([a-z_.[\]]+)` \|/gm)].map(m => m[1] as string)
  const known = new Set(keys)
  for (const d of documented) t.ok(known.has(d), `documented key exists in the schema: ${d}`)
})
