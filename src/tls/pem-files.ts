import { mkdir, rename, writeFile } from 'node:fs/promises'
import { dirname, join, basename } from 'node:path'

/** Writes a file atomically (temp + rename) so readers never see half a PEM. */
export async function writeFileAtomic (file: string, data: string, mode: number): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${Date.now()}.tmp`)
  await writeFile(tmp, data, { mode })
  await rename(tmp, file)
}
