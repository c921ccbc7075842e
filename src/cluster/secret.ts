import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'

/**
 * Private keys stored in etcd are sealed with AES-256-GCM under a key every instance reads from
 * `cluster.secret_file` (etcd's own access control and TLS are not enough: backups and snapshots
 * of etcd hold every value in clear). The associated data binds a sealed value to its key name,
 * so a value copied to another name does not open there.
 */
export class SecretBox {
  readonly #key: Buffer

  constructor (key: Buffer) {
    if (key.length !== 32) throw new Error(`the cluster secret must be 32 bytes, got ${key.length}`)
    this.#key = key
  }

  /** `v1.` + base64(iv ‖ tag ‖ ciphertext). */
  seal (plain: string, name: string): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    cipher.setAAD(Buffer.from(name))
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
    return `v1.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`
  }

  /** Throws a clear error on a wrong key, a foreign name or a damaged value. */
  open (sealed: string, name: string): string {
    const raw = sealed.startsWith('v1.') ? Buffer.from(sealed.slice(3), 'base64') : undefined
    if (raw === undefined || raw.length < 29) throw new Error(`${name}: not a sealed value`)
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12))
      decipher.setAAD(Buffer.from(name))
      decipher.setAuthTag(raw.subarray(12, 28))
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')
    } catch {
      throw new Error(`${name}: cannot decrypt the stored private key (another cluster.secret_file, or a damaged value)`)
    }
  }
}

/** 32 bytes from the file: 64 hex digits, base64 of 32 bytes, or the 32 raw bytes. */
export function parseSecret (data: Buffer): Buffer {
  const text = data.toString('latin1').trim()
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex')
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) return Buffer.from(text, 'base64')
  if (data.length === 32) return data
  throw new Error('the cluster secret file must hold 32 bytes: 64 hex digits (openssl rand -hex 32), base64, or raw')
}

export async function readSecretBox (file: string): Promise<SecretBox> {
  try {
    return new SecretBox(parseSecret(await readFile(file)))
  } catch (err) {
    throw new Error(`cluster.secret_file ${file}: ${(err as Error).message}`)
  }
}
