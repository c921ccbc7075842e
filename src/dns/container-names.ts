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
  /** network name → { ipv4, ipv6 }, with the networks' prefix lengths when known (for `dns.allow: docker`) */
  networks: Readonly<Record<string, { ipv4: string | undefined, ipv6: string | undefined, ipv4Prefix?: number, ipv6Prefix?: number }>>
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

/** A label portico could not use, and why: logged once per container and shown on the status page. */
export interface LabelProblem { label: string, value: string, why: string }

const DEFAULT_PRIORITY: Record<Role, number> = { primary: 100, maintenance: 50 }
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
const INTEGER = /^[+-]?\d{1,9}$/

export function claimOf (c: ContainerFacts, opts: NamingOptions): Claim | undefined {
  return inspectClaim(c, opts).claim
}

/**
 * The claim and every label that had to be ignored or refused: a bad `port`, `priority` or
 * `role` falls back to its default, a name that is no valid DNS name or that would take over the
 * zone's own records (its apex, the NS target `ns.<zone>`) is not published.
 */
export function inspectClaim (c: ContainerFacts, opts: NamingOptions): { claim: Claim | undefined, problems: LabelProblem[] } {
  const l = c.labels
  const zone = opts.zone
  const problems: LabelProblem[] = []
  const bad = (label: string, why: string): void => { problems.push({ label, value: l[label] ?? '', why }) }
  let role: Role = 'primary'
  if (l['portico.role'] === 'maintenance') role = 'maintenance'
  else if (l['portico.role'] !== undefined && l['portico.role'] !== 'primary') bad('portico.role', 'not primary or maintenance; primary used')
  let priority = DEFAULT_PRIORITY[role]
  if (l['portico.priority'] !== undefined) {
    if (INTEGER.test(l['portico.priority'].trim())) priority = Number(l['portico.priority'])
    else bad('portico.priority', `not an integer; ${priority} used`)
  }
  let port: number | undefined
  if (l['portico.port'] !== undefined) {
    const n = Number(l['portico.port'])
    if (/^\d{1,5}$/.test(l['portico.port'].trim()) && n >= 1 && n <= 65535) port = n
    else bad('portico.port', 'not a port (1-65535); the route\'s port is used')
  }
  const names: string[] = []
  const add = (label: string, raw: string): void => {
    const name = qualify(raw, zone)
    const why = nameProblem(name, zone)
    if (why === undefined) names.push(name); else problems.push({ label, value: raw, why })
  }
  const tenant = l['portico.tenant'] ?? l['com.docker.compose.project']
  if (l['portico.name'] !== undefined) {
    add('portico.name', l['portico.name'])
  } else if (tenant !== undefined && l['com.docker.compose.service'] !== undefined) {
    add('com.docker.compose.service', `${l['com.docker.compose.service']}.${tenant}`)
  } else {
    const m = opts.namePattern.exec(c.name.replace(/^\//, ''))
    const service = m?.groups?.service
    const t = l['portico.tenant'] ?? m?.groups?.tenant
    if (service !== undefined && t !== undefined) add(l['portico.tenant'] === undefined ? '(container name)' : 'portico.tenant', `${service}.${t}`)
  }
  for (const alias of (l['portico.aliases'] ?? '').split(',')) {
    if (alias.trim() !== '') add('portico.aliases', alias.trim())
  }
  return { claim: names.length === 0 ? undefined : { names: [...new Set(names)], role, priority, port }, problems }
}

function qualify (n: string, zone: string): string {
  const name = n.toLowerCase().replace(/\.$/, '')
  return name === zone || name.endsWith(`.${zone}`) ? name : `${name}.${zone}`
}

/** Why `name` cannot be published, or undefined when it can. */
function nameProblem (name: string, zone: string): string | undefined {
  if (name.length > 253) return `${name.length} characters: a DNS name has at most 253`
  const long = name.split('.').find(x => x.length > 63)
  if (long !== undefined) return `a label of ${long.length} characters: at most 63`
  if (!name.split('.').every(x => DNS_LABEL.test(x))) return 'not a DNS name (letters, digits and inner hyphens per label)'
  if (name === zone || name === `ns.${zone}`) return `${name} is the zone's own record`
  return undefined
}
