import t from 'tap'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { watchFile } from '../../src/config/index.js'
import { makeTempDir } from '../helpers/portico.js'

t.test('one save is one change, though fs.watch and the stat poll both see it', async t => {
  const { dir, cleanup } = await makeTempDir()
  t.teardown(cleanup)
  const file = join(dir, 'portico.yaml')
  await writeFile(file, 'a: 1\n')
  // One save = one atomic replace (as editors and config management write): a plain writeFile is a truncate and a
  // write, which a loaded machine can space further apart than the debounce — two changes, rightly.
  const save = async (text: string): Promise<void> => { await writeFile(`${file}.tmp`, text); await rename(`${file}.tmp`, file) }
  let calls = 0
  const w = watchFile(file, () => { calls++ }, { debounceMs: 50, pollMs: 100 })
  t.teardown(() => w.close())
  await new Promise(resolve => setTimeout(resolve, 300))
  await save('a: 2\n')
  // Several poll periods after the debounce.
  await new Promise(resolve => setTimeout(resolve, 1000))
  t.equal(calls, 1)
  await save('a: 3\n')
  await new Promise(resolve => setTimeout(resolve, 1000))
  t.equal(calls, 2, 'the next save is seen again')
})
