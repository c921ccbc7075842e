/**
 * Challenge responses currently on offer: HTTP-01 key authorizations by token (served by the
 * HTTP listeners) and DNS-01 TXT values by name (served by portico's DNS server for the builtin
 * provider). Several values per name at once: a wildcard and its apex share one name.
 */
export class ChallengeBoard {
  readonly #http = new Map<string, string>()
  readonly #txt = new Map<string, string[]>()

  httpToken (token: string): string | undefined { return this.#http.get(token) }
  setHttp (token: string, keyAuthorization: string): void { this.#http.set(token, keyAuthorization) }
  deleteHttp (token: string): void { this.#http.delete(token) }

  txt (name: string): readonly string[] | undefined { return this.#txt.get(normalize(name)) }
  addTxt (name: string, value: string): void {
    const key = normalize(name)
    this.#txt.set(key, [...(this.#txt.get(key) ?? []).filter(v => v !== value), value])
  }

  removeTxt (name: string, value: string): void {
    const key = normalize(name)
    const left = (this.#txt.get(key) ?? []).filter(v => v !== value)
    if (left.length === 0) this.#txt.delete(key); else this.#txt.set(key, left)
  }
}

const normalize = (name: string): string => name.toLowerCase().replace(/\.$/, '')
