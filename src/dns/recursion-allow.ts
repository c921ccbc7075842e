import net from 'node:net'

/** `loopback`, `docker` (the watched networks' CIDRs) or a CIDR such as 10.0.0.0/8. */
export type AllowEntry = string

const LOOPBACK: ReadonlyArray<readonly [string, number, 'ipv4' | 'ipv6']> = [['127.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6']]
const MAPPED_V4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i

/**
 * Who may have names outside portico's zone resolved (no open resolver). Rebuilt only when the
 * Docker networks change; `allows` is one BlockList check per forwarded query.
 */
export class RecursionAllow {
  readonly #entries: readonly AllowEntry[]
  #subnets: readonly string[] | undefined
  #list = new net.BlockList()

  constructor (entries: readonly AllowEntry[]) {
    this.#entries = entries
    this.#build([])
  }

  /** The Docker networks as `ip/prefix` (the registry's subnets); cheap when unchanged. */
  setDockerSubnets (subnets: readonly string[]): void {
    if (subnets === this.#subnets) return
    this.#build(subnets)
  }

  allows (source: string): boolean {
    const v4 = MAPPED_V4.exec(source)?.[1] ?? (net.isIPv4(source) ? source : undefined)
    return v4 !== undefined ? this.#list.check(v4, 'ipv4') : this.#list.check(source, 'ipv6')
  }

  #build (subnets: readonly string[]): void {
    this.#subnets = subnets
    const list = new net.BlockList()
    const add = (cidr: string): void => {
      const [ip, bits] = cidr.split('/')
      const family = net.isIPv6(ip!) ? 'ipv6' : 'ipv4'
      list.addSubnet(ip!, Number(bits ?? (family === 'ipv6' ? 128 : 32)), family)
    }
    for (const e of this.#entries) {
      if (e === 'loopback') for (const [ip, bits, family] of LOOPBACK) list.addSubnet(ip, bits, family)
      else if (e === 'docker') subnets.forEach(add)
      else add(e)
    }
    this.#list = list
  }
}
