import type { ChallengeBoard } from '../acme/challenge-board.js'
import type { Cluster } from './cluster.js'
import type { Mirror } from './mirror.js'

const HTTP = 'challenges/http/'
const TXT = 'challenges/txt/'

/**
 * ACME challenge answers shared through etcd, so whichever instance the load balancer (or the DNS
 * delegation) sends the CA to answers it. Each instance publishes its own answers under its lease
 * (`challenges/http/<token>`, `challenges/txt/<name>/<instance>` = JSON list of values: two
 * instances never overwrite each other's TXT values) and serves everything published.
 */
export async function shareChallenges (cluster: Cluster, board: ChallengeBoard): Promise<Mirror> {
  board.shareWith({
    http: async (token, value) => {
      if (value === undefined) await cluster.unpublish(HTTP + token)
      else await cluster.publish(HTTP + token, value)
    },
    txt: async (name, values) => {
      const key = `${TXT}${name}/${cluster.name}`
      if (values.length === 0) await cluster.unpublish(key)
      else await cluster.publish(key, JSON.stringify(values))
    }
  })
  const mirror = cluster.mirror('challenges/', entries => {
    const http = new Map<string, string>()
    const txt = new Map<string, string[]>()
    for (const [key, value] of entries) {
      if (key.startsWith('http/')) http.set(key.slice('http/'.length), value.toString())
      else if (key.startsWith('txt/')) {
        const name = key.slice('txt/'.length, key.lastIndexOf('/'))
        txt.set(name, [...new Set([...txt.get(name) ?? [], ...txtValues(value)])])
      }
    }
    board.setRemote(http, txt)
  })
  return mirror
}

function txtValues (value: Buffer): string[] {
  try {
    const list = JSON.parse(value.toString()) as unknown
    return Array.isArray(list) ? list.filter((v): v is string => typeof v === 'string') : []
  } catch {
    return []
  }
}
