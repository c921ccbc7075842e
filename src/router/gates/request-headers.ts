import { compileTemplate, type Template, type Vars } from '../template.js'
import { normalizeHost } from '../host.js'
import { dropHeader, setHeader } from './edits.js'
import type { Gate, GateRequest, UpstreamEdits } from './types.js'

export interface RequestHeadersConfig {
  set: Record<string, string>
  add: Record<string, string | string[]>
  remove: string[]
}

/**
 * `request_headers`: templates compiled once per snapshot; a request only renders them
 * (a join, no parsing). remove, then set (replaces), then add (appends).
 */
export function requestHeadersGate (c: RequestHeadersConfig): Gate {
  const remove = c.remove.map(n => n.toLowerCase())
  const set = Object.entries(c.set).map(([n, v]) => [n.toLowerCase(), compileTemplate(v)] as const)
  const add = Object.entries(c.add).flatMap(([n, v]) => (Array.isArray(v) ? v : [v]).map(one => [n.toLowerCase(), compileTemplate(one)] as const))
  const templated = [...set, ...add].some(([, t]) => t.variables.length > 0)
  const render = (t: Template, vars: Vars | undefined): string => vars === undefined ? t.source : t.render(vars)
  return (req, edits) => {
    const vars = templated ? placeholderValues(req, edits) : undefined
    for (const n of remove) dropHeader(edits, n)
    for (const [n, t] of set) setHeader(edits, n, render(t, vars))
    for (const [n, t] of add) edits.add.push([n, render(t, vars)])
    return undefined
  }
}

function placeholderValues (req: GateRequest, edits: UpstreamEdits): Vars {
  return {
    client_ip: req.clientIp,
    remote_addr: req.peerIp,
    host: normalizeHost(req.host) ?? '',
    request_id: req.requestId,
    method: req.method,
    uri: req.url,
    path: req.url.includes('?') ? req.url.slice(0, req.url.indexOf('?')) : req.url,
    proto: req.proto,
    auth_user: edits.user ?? ''
  }
}
