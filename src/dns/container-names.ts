/**
 * Which DNS names a container claims. Labels win (`portico.name`, `portico.aliases`,
 * `portico.tenant`, `portico.role`, `portico.priority`, `portico.port`); otherwise the
 * container name `<tenant>-<service>` (configurable regex with named groups `tenant` and
 * `service`) or the compose project/service labels give `<service>.<tenant>.<zone>`.
 */
export interface ContainerFacts {
  id: string
  name: string
  labels: Readonly<Record<string, string>>
  running: boolean
  /** 'healthy' | 'unhealthy' | 'starting' | undefined (no health check) */
  health: string | undefined
  /** network name → { ipv4, ipv6 } */
  networks: Readonly<Record<string, { ipv4: string | undefined, ipv6: string | undefined }>>
}

export type Role = 'primary' | 'maintenance'

export interface Claim {
  names: string[]
  role: Role
  priority: number
  port: number | undefined
}

export interface NamingOptions {
  zone: string
  namePattern: RegExp
}

const DEFAULT_PRIORITY: Record<Role, number> = { primary: 100, maintenance: 50 }

export function claimOf (c: ContainerFacts, opts: NamingOptions): Claim | undefined {
  const l = c.labels
  const zone = opts.zone
  const role: Role = l['portico.role'] === 'maintenance' ? 'maintenance' : 'primary'
  const priority = Number.isInteger(Number(l['portico.priority'])) && l['portico.priority'] !== undefined ? Number(l['portico.priority']) : DEFAULT_PRIORITY[role]
  const port = l['portico.port'] !== undefined && /^\d{1,5}$/.test(l['portico.port']) ? Number(l['portico.port']) : undefined
  const qualify = (n: string): string => {
    const name = n.toLowerCase().replace(/\.$/, '')
    return name === zone || name.endsWith(`.${zone}`) ? name : `${name}.${zone}`
  }
  const names: string[] = []
  const tenant = l['portico.tenant'] ?? l['com.docker.compose.project']
  if (l['portico.name'] !== undefined) {
    names.push(qualify(l['portico.name']))
  } else if (tenant !== undefined && l['com.docker.compose.service'] !== undefined) {
    names.push(qualify(`${l['com.docker.compose.service']}.${tenant}`))
  } else {
    const m = opts.namePattern.exec(c.name.replace(/^\//, ''))
    const service = m?.groups?.service
    const t = l['portico.tenant'] ?? m?.groups?.tenant
    if (service !== undefined && t !== undefined) names.push(qualify(`${service}.${t}`))
  }
  for (const alias of (l['portico.aliases'] ?? '').split(',')) {
    if (alias.trim() !== '') names.push(qualify(alias.trim()))
  }
  const valid = names.filter(n => /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(n))
  return valid.length === 0 ? undefined : { names: [...new Set(valid)], role, priority, port }
}
