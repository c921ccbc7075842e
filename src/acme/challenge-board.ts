/** Where a cluster member copies its own answers, so any instance can answer the CA. */
export interface ChallengeShare {
  http: (token: string, keyAuthorization: string | undefined) => Promise<void>
  txt: (name: string, values: readonly string[]) => Promise<void>
}

/**
 * Challenge responses currently on offer: HTTP-01 key authorizations by token (served by the
 * HTTP listeners) and DNS-01 TXT values by name (served by portico's DNS server for the builtin
 * provider). Several values per name at once: a wildcard and its apex share one name. In a
 * cluster, this instance's answers are also shared, and the other instances' answers (`setRemote`)
 * are served alongside its own.
 */
export class ChallengeBoard {
  readonly #http = new Map<string, string>()
  readonly #txt = new Map<string, string[]>()
  #remoteHttp: ReadonlyMap<string, string> = new Map()
  #remoteTxt: ReadonlyMap<string, readonly string[]> = new Map()
  #publish: ((entries: Array<[string, string]>) => Promise<void>) | undefined
  #publishTxt: ((entries: Array<[string, readonly string[]]>) => Promise<void>) | undefined
  #share: ChallengeShare | undefined
  #published: Promise<void> = Promise.resolve()
  #shared: Promise<unknown> = Promise.resolve()

  httpToken (token: string): string | undefined { return this.#http.get(token) ?? this.#remoteHttp.get(token) }
  setHttp (token: string, keyAuthorization: string): void { this.#http.set(token, keyAuthorization); this.#shareHttp(token, keyAuthorization); this.#changed() }
  deleteHttp (token: string): void { this.#http.delete(token); this.#shareHttp(token, undefined); this.#changed() }
  httpEntries (): Array<[string, string]> { return [...new Map([...this.#remoteHttp, ...this.#http]).entries()] }

  /** Copies every change of this instance's answers to the cluster; settled() waits for it too. */
  shareWith (share: ChallengeShare): void { this.#share = share }

  /** The answers other cluster members published (every instance answers the CA for all). */
  setRemote (http: ReadonlyMap<string, string>, txt: ReadonlyMap<string, readonly string[]>): void {
    this.#remoteHttp = http
    this.#remoteTxt = new Map([...txt].map(([name, values]) => [normalize(name), values]))
    this.#changed()
    this.#txtChanged()
  }

  #shareHttp (token: string, value: string | undefined): void {
    if (this.#share !== undefined) this.#chainShare(this.#share.http(token, value))
  }

  /** settled() rejects when the latest share failed (the CA may ask another instance); nothing goes unhandled. */
  #chainShare (next: Promise<void>): void {
    const previous = this.#shared
    next.catch(() => {}) // handled below, after the previous share
    const chained = (async () => { await previous.catch(() => {}); await next })()
    chained.catch(() => {})
    this.#shared = chained
  }
  replaceHttp (entries: ReadonlyArray<readonly [string, string]>): void {
    this.#http.clear()
    for (const [k, v] of entries) this.#http.set(k, v)
  }

  /** With workers, HTTP-01 answers are served by other processes: copy every change to them. */
  publishTo (publish: (entries: Array<[string, string]>) => Promise<void>): void { this.#publish = publish }

  /** The DNS server runs on its own thread: copy every TXT change to it. */
  publishTxtTo (publish: (entries: Array<[string, readonly string[]]>) => Promise<void>): void { this.#publishTxt = publish }

  /** Resolves once the latest HTTP-01 or TXT change is being served everywhere (before the CA looks). */
  async settled (): Promise<void> {
    await this.#published
    await this.#shared
  }

  #changed (): void {
    if (this.#publish !== undefined) this.#published = this.#publish(this.httpEntries())
  }

  txt (name: string): readonly string[] | undefined { return this.#mergedTxt().get(normalize(name)) }
  addTxt (name: string, value: string): void {
    const key = normalize(name)
    this.#txt.set(key, [...(this.#txt.get(key) ?? []).filter(v => v !== value), value])
    this.#shareTxt(key)
    this.#txtChanged()
  }

  removeTxt (name: string, value: string): void {
    const key = normalize(name)
    const left = (this.#txt.get(key) ?? []).filter(v => v !== value)
    if (left.length === 0) this.#txt.delete(key); else this.#txt.set(key, left)
    this.#shareTxt(key)
    this.#txtChanged()
  }

  txtEntries (): Array<[string, readonly string[]]> { return [...this.#mergedTxt().entries()] }

  #mergedTxt (): ReadonlyMap<string, readonly string[]> {
    if (this.#remoteTxt.size === 0) return this.#txt
    const merged = new Map<string, readonly string[]>(this.#remoteTxt)
    for (const [name, values] of this.#txt) merged.set(name, [...new Set([...merged.get(name) ?? [], ...values])])
    return merged
  }

  #shareTxt (key: string): void {
    if (this.#share !== undefined) this.#chainShare(this.#share.txt(key, this.#txt.get(key) ?? []))
  }

  #txtChanged (): void {
    if (this.#publishTxt !== undefined) this.#published = this.#publishTxt(this.txtEntries())
  }
}

const normalize = (name: string): string => name.toLowerCase().replace(/\.$/, '')
