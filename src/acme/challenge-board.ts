/**
 * Challenge responses currently on offer: HTTP-01 key authorizations by token (served by the
 * HTTP listeners) and DNS-01 TXT values by name (served by portico's DNS server for the builtin
 * provider). Several values per name at once: a wildcard and its apex share one name.
 */
export class ChallengeBoard {
  readonly #http = new Map<string, string>()
  readonly #txt = new Map<string, string[]>()
  #publish: ((entries: Array<[string, string]>) => Promise<void>) | undefined
  #publishTxt: ((entries: Array<[string, readonly string[]]>) => Promise<void>) | undefined
  #published: Promise<void> = Promise.resolve()

  httpToken (token: string): string | undefined { return this.#http.get(token) }
  setHttp (token: string, keyAuthorization: string): void { this.#http.set(token, keyAuthorization); this.#changed() }
  deleteHttp (token: string): void { this.#http.delete(token); this.#changed() }
  httpEntries (): Array<[string, string]> { return [...this.#http.entries()] }
  replaceHttp (entries: ReadonlyArray<readonly [string, string]>): void {
    this.#http.clear()
    for (const [k, v] of entries) this.#http.set(k, v)
  }

  /** With workers, HTTP-01 answers are served by other processes: copy every change to them. */
  publishTo (publish: (entries: Array<[string, string]>) => Promise<void>): void { this.#publish = publish }

  /** The DNS server runs on its own thread: copy every TXT change to it. */
  publishTxtTo (publish: (entries: Array<[string, readonly string[]]>) => Promise<void>): void { this.#publishTxt = publish }

  /** Resolves once the latest HTTP-01 or TXT change is being served everywhere (before the CA looks). */
  async settled (): Promise<void> { await this.#published }

  #changed (): void {
    if (this.#publish !== undefined) this.#published = this.#publish(this.httpEntries())
  }

  txt (name: string): readonly string[] | undefined { return this.#txt.get(normalize(name)) }
  addTxt (name: string, value: string): void {
    const key = normalize(name)
    this.#txt.set(key, [...(this.#txt.get(key) ?? []).filter(v => v !== value), value])
    this.#txtChanged()
  }

  removeTxt (name: string, value: string): void {
    const key = normalize(name)
    const left = (this.#txt.get(key) ?? []).filter(v => v !== value)
    if (left.length === 0) this.#txt.delete(key); else this.#txt.set(key, left)
    this.#txtChanged()
  }

  txtEntries (): Array<[string, readonly string[]]> { return [...this.#txt.entries()] }

  #txtChanged (): void {
    if (this.#publishTxt !== undefined) this.#published = this.#publishTxt(this.txtEntries())
  }
}

const normalize = (name: string): string => name.toLowerCase().replace(/\.$/, '')
