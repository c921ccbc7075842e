import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { request } from 'undici'
import { freePort } from './portico.js'

/**
 * Real etcd members (Debian `etcd-server`) on loopback for the cluster tests: temp data dirs, free
 * ports, never the system service. A member can be killed (SIGKILL), paused (SIGSTOP: a partition
 * that keeps its sockets open) and restarted on its data dir and ports.
 */
export interface EtcdCluster {
  /** Client URLs of every member, in member order (the `cluster.endpoints` of a test portico). */
  endpoints: string[]
  size: number
  kill: (member: number) => Promise<void>
  restart: (member: number) => Promise<void>
  signal: (member: number, signal: NodeJS.Signals) => void
  /** Whether `member` answers /health with a leader elected. */
  healthy: (member: number) => Promise<boolean>
  log: (member: number) => string
  stop: () => Promise<void>
}

interface Member { name: string, client: number, peer: number, dataDir: string, child?: ChildProcess, out: string }

export async function startEtcd (opts: { members?: 1 | 3 } = {}): Promise<EtcdCluster> {
  const size = opts.members ?? 1
  const root = await mkdtemp(join(tmpdir(), 'portico-etcd-'))
  const members: Member[] = []
  for (let i = 0; i < size; i++) {
    members.push({ name: `m${i}`, client: await freePort(), peer: await freePort(), dataDir: join(root, `m${i}`), out: '' })
  }
  const initialCluster = members.map(m => `${m.name}=http://127.0.0.1:${m.peer}`).join(',')
  const token = `portico-test-${process.pid}-${Date.now()}`

  const launch = (m: Member): void => {
    const child = spawn('etcd', [
      '--name', m.name, '--data-dir', m.dataDir,
      '--listen-client-urls', `http://127.0.0.1:${m.client}`, '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
      // Quick elections: a killed leader is replaced in about a second on a loaded 2-core machine.
      '--heartbeat-interval', '100', '--election-timeout', '1000', '--logger', 'zap', '--log-level', 'warn'
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    m.out = ''
    const keep = (b: Buffer): void => { m.out = (m.out + b.toString()).slice(-6000) }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    m.child = child
  }
  const alive = (m: Member): boolean => m.child !== undefined && m.child.exitCode === null && m.child.signalCode === null
  const healthy = async (i: number): Promise<boolean> => {
    const m = members[i] as Member
    try {
      const res = await request(`http://127.0.0.1:${m.client}/health`, { headersTimeout: 2000, bodyTimeout: 2000 })
      const body = await res.body.json() as { health?: string }
      return res.statusCode === 200 && body.health === 'true'
    } catch { return false }
  }
  const waitHealthy = async (list: Member[]): Promise<void> => {
    const deadline = Date.now() + 30_000
    for (const m of list) {
      while (!(await healthy(members.indexOf(m)))) {
        if (!alive(m)) throw new Error(`etcd ${m.name} exited: ${m.out}`)
        if (Date.now() > deadline) throw new Error(`etcd ${m.name} not healthy: ${m.out}`)
        await new Promise(resolve => setTimeout(resolve, 100))
      }
    }
  }
  const kill = async (i: number): Promise<void> => {
    const m = members[i] as Member
    if (!alive(m)) return
    const exited = new Promise(resolve => m.child?.once('exit', resolve))
    m.child?.kill('SIGKILL')
    await exited
  }

  members.forEach(launch)
  try {
    await waitHealthy(members)
  } catch (err) {
    for (let i = 0; i < size; i++) await kill(i)
    await rm(root, { recursive: true, force: true })
    throw err
  }
  return {
    endpoints: members.map(m => `http://127.0.0.1:${m.client}`),
    size,
    kill,
    restart: async i => {
      const m = members[i] as Member
      await kill(i)
      launch(m)
      // One member of three alone has no quorum: wait for its listener, not for a leader.
      if (members.filter(alive).length * 2 > size) await waitHealthy([m])
    },
    signal: (i, s) => { members[i]?.child?.kill(s) },
    healthy,
    log: i => members[i]?.out ?? '',
    stop: async () => {
      for (let i = 0; i < size; i++) {
        members[i]?.child?.kill('SIGCONT')
        await kill(i)
      }
      await rm(root, { recursive: true, force: true })
    }
  }
}

/** etcd members for one tap test, a plain client on them for the test's own reads, both stopped at teardown. */
export async function etcdForTest (t: { teardown: (fn: () => unknown) => void }, opts: { members?: 1 | 3 } = {}): Promise<{ etcd: EtcdCluster, raw: Etcd3 }> {
  const etcd = await startEtcd(opts)
  t.teardown(etcd.stop)
  const raw = new Etcd3({ hosts: etcd.endpoints })
  t.teardown(() => { raw.close() })
  return { etcd, raw }
}
