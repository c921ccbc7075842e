import { readFileSync } from 'node:fs'

const root = new URL('../../', import.meta.url)

/** The Node flags portico ships with: the systemd unit's NODE_OPTIONS is the reference. */
export function shippedNodeOptions (): string {
  const unit = readFileSync(new URL('systemd/portico.service', root), 'utf8')
  const value = /^Environment=NODE_OPTIONS=(.+)$/m.exec(unit)?.[1]
  if (value === undefined) throw new Error('systemd/portico.service sets no NODE_OPTIONS')
  return value.trim()
}

/** A repository file's text (for checks that every launcher carries the same flags). */
export const repoFile = (path: string): string => readFileSync(new URL(path, root), 'utf8')
