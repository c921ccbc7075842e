import type { Config, TcpRouteConfig } from '../config/index.js'

/** One compiled `tcp_routes` entry. */
export interface TcpRoute {
  readonly name: string
  /** undefined: the listener's default route (no SNI, or no SNI route matched). */
  readonly sni: readonly string[] | undefined
  readonly upstreams: ReadonlyArray<{ host: string, port: number }> | undefined
  /** Docker name completed with the zone, and the container port. */
  readonly docker: { name: string, port: number } | undefined
  readonly proxyProtocol: 'v1' | 'v2' | undefined
  readonly connectMs: number
  readonly idleMs: number
}

export interface TcpTable {
  /** The route for a connection on `listener` with this SNI name (lower case, or undefined). */
  pick (listener: string, sni: string | undefined): TcpRoute | undefined
}

/** Compiled once per config object (the snapshot's), so the accept path only looks things up. */
const compiled = new WeakMap<Config, TcpTable>()

export function tcpTableOf (config: Config): TcpTable {
  let t = compiled.get(config)
  if (t === undefined) { t = compileTcpTable(config); compiled.set(config, t) }
  return t
}

export function compileTcpTable (config: Config): TcpTable {
  const byListener = new Map<string, TcpRoute[]>()
  config.tcp_routes.forEach((r, i) => {
    const route = compileRoute(r, i, config.docker?.zone)
    for (const l of r.listeners) byListener.set(l, [...byListener.get(l) ?? [], route])
  })
  return {
    pick (listener, sni) {
      const routes = byListener.get(listener) ?? []
      if (sni !== undefined) {
        const hit = routes.find(r => r.sni?.some(p => sniMatches(p, sni)) === true)
        if (hit !== undefined) return hit
      }
      return routes.find(r => r.sni === undefined)
    }
  }
}

function compileRoute (r: TcpRouteConfig, i: number, zone: string | undefined): TcpRoute {
  const name = r.docker?.name
  return {
    name: r.name ?? `tcp_routes[${i}]`,
    sni: r.sni?.map(s => s.toLowerCase()),
    upstreams: r.upstreams?.map(splitHostPort),
    docker: name === undefined || r.docker === undefined
      ? undefined
      : { name: zone === undefined || name === zone || name.endsWith(`.${zone}`) ? name : `${name}.${zone}`, port: r.docker.port },
    proxyProtocol: r.proxy_protocol,
    connectMs: r.timeouts.connect,
    idleMs: r.timeouts.idle
  }
}

/** `*.example.org` covers one label, like a certificate wildcard; anything else is exact. */
export function sniMatches (pattern: string, sni: string): boolean {
  if (!pattern.startsWith('*.')) return pattern === sni
  const dot = sni.indexOf('.')
  return dot > 0 && sni.slice(dot) === pattern.slice(1)
}

export function splitHostPort (v: string): { host: string, port: number } {
  const colon = v.lastIndexOf(':')
  return { host: v.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(v.slice(colon + 1)) }
}
