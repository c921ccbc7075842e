import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { mkdtemp, mkdir, rm, symlink, copyFile, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { join } from 'node:path'
import net from 'node:net'
import { Agent, request } from 'undici'

const run = promisify(execFile)

export interface Dockerd {
  socket: string
  endpoint: string
  /** A docker CLI command against this dockerd, killed after 60 s. */
  docker (...args: string[]): Promise<string>
  /** The same with its own limit, for the slow ones (a build, an image import) on a loaded machine. */
  dockerWithin (timeoutMs: number, ...args: string[]): Promise<string>
  /** SIGKILL dockerd (containers die with it on restart). */
  kill (): Promise<void>
  start (): Promise<void>
  stop (): Promise<void>
}

/**
 * A private dockerd for one test file: its own socket, data and exec roots in a temp dir, no
 * iptables, no default bridge (tests create their own network with a fixed subnet). Containers
 * it runs are the only non-loopback targets tests may reach.
 */
export async function startDockerd (): Promise<Dockerd> {
  // Short path: unix socket paths are limited to ~108 bytes.
  const dir = await mkdtemp('/tmp/pdk-')
  const socket = join(dir, 'd.sock')
  let child: ChildProcess | undefined
  const ping = async (): Promise<boolean> => {
    const agent = new Agent({ connect: { socketPath: socket } })
    try {
      const r = await request('http://docker/_ping', { dispatcher: agent, headersTimeout: 1000 })
      await r.body.text()
      return r.statusCode === 200
    } catch {
      return false
    } finally {
      await agent.close()
    }
  }
  const start = async (): Promise<void> => {
    child = spawn('dockerd', ['--host', `unix://${socket}`, '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'd.pid'),
      '--iptables=false', '--ip6tables=false', '--bridge=none', '--log-level=warn'], { stdio: ['ignore', 'ignore', 'pipe'], detached: false })
    let stderr = ''
    child.stderr?.on('data', (b: Buffer) => { stderr = (stderr + b.toString()).slice(-4000) })
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`dockerd exited with ${child.exitCode}: ${stderr}`)
      if (await ping()) return
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    throw new Error('dockerd did not become ready in 30 s')
  }
  // dockerd's own containerd and shims outlive a killed dockerd; they all name our temp dir.
  const killLeftovers = async (): Promise<void> => {
    await run('pkill', ['-KILL', '-f', dir]).catch(() => {})
    for (let i = 0; i < 50; i++) {
      if (await run('pgrep', ['-f', dir]).then(() => false, () => true)) break
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    // Stale pid files make the next dockerd wait for a containerd that is gone.
    await rm(join(dir, 'd.pid'), { force: true })
    await rm(join(dir, 'exec', 'containerd', 'containerd.pid'), { force: true })
  }
  const stopped = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child
    if (c === undefined || c.exitCode !== null) return
    const exited = new Promise(resolve => c.once('exit', resolve))
    c.kill(signal)
    const timer = setTimeout(() => c.kill('SIGKILL'), 20_000)
    await exited
    clearTimeout(timer)
  }
  await start()
  const env = { ...process.env, DOCKER_HOST: `unix://${socket}` }
  return {
    socket,
    endpoint: `unix://${socket}`,
    docker: async (...args) => (await run('docker', args, { env, timeout: 60_000 })).stdout.trim(),
    dockerWithin: async (timeoutMs, ...args) => (await run('docker', args, { env, timeout: timeoutMs })).stdout.trim(),
    kill: async () => {
      await stopped('SIGKILL')
      await killLeftovers()
    },
    start,
    stop: async () => {
      await run('docker', ['rm', '-f', ...(await run('docker', ['ps', '-aq'], { env })).stdout.split('\n').filter(Boolean)], { env }).catch(() => {})
      // Bridges outlive dockerd; a stale one with the same subnet would swallow the next run's traffic.
      await run('docker', ['network', 'prune', '-f'], { env }).catch(() => {})
      await stopped('SIGTERM')
      await killLeftovers()
      await run('sh', ['-c', `grep -o '${dir}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]).catch(() => {})
      await rm(dir, { recursive: true, force: true }).catch(() => {})
    }
  }
}

/**
 * A busybox image imported from Debian's busybox-static (no registry): `sh`, `httpd`, `sleep`,
 * and `/www/cgi-bin/echo`, which answers `<the page's text> <method> <request body bytes>`
 * (uploads reached the container whole, and which container took them).
 */
export async function importBusybox (d: Dockerd, tag = 'portico-test/busybox:1'): Promise<string> {
  const dir = await mkdtemp('/tmp/pdk-rootfs-')
  try {
    await mkdir(join(dir, 'bin'), { recursive: true })
    await mkdir(join(dir, 'www/cgi-bin'), { recursive: true })
    await copyFile('/bin/busybox', join(dir, 'bin/busybox'))
    for (const applet of ['sh', 'httpd', 'sleep', 'echo', 'cat', 'wc']) await symlink('busybox', join(dir, 'bin', applet))
    await writeFile(join(dir, 'www/index.html'), 'busybox\n')
    // CRLF after the CGI header: busybox passes it on as is, and a strict parser refuses bare LF.
    const cgi = '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\necho "$(cat /www/index.html) $REQUEST_METHOD $(cat | wc -c)"\n'
    await writeFile(join(dir, 'www/cgi-bin/echo'), cgi, { mode: 0o755 })
    await run('tar', ['-C', dir, '-cf', join(dir, '..', `${dir.split('/').pop()}.tar`), '.'])
    await d.docker('import', join(dir, '..', `${dir.split('/').pop()}.tar`), tag)
    return tag
  } finally {
    await rm(dir, { recursive: true, force: true })
    await rm(`${dir}.tar`, { force: true })
  }
}

/** Runs busybox httpd in a container answering `body` on port 80. */
export async function runWebContainer (d: Dockerd, image: string, name: string, body: string, extra: string[] = []): Promise<string> {
  return await d.docker('run', '-d', '--name', name, ...extra, image, 'sh', '-c', `echo ${body} > /www/index.html && exec httpd -f -p 80 -h /www`)
}

export async function containerIp (d: Dockerd, name: string): Promise<string> {
  return await d.docker('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name)
}

/**
 * A Node base image without any registry: the project's own Node binary, the libraries `ldd`
 * names, and busybox for the Dockerfile's RUN steps, imported as a rootfs.
 */
export async function importNodeBase (d: Dockerd, nodeBinary: string, tag = 'portico-test/node-base:1'): Promise<string> {
  const dir = await mkdtemp('/tmp/pdk-noderoot-')
  try {
    for (const sub of ['usr/local/bin', 'bin', 'tmp', 'etc']) await mkdir(join(dir, sub), { recursive: true })
    await copyFile(nodeBinary, join(dir, 'usr/local/bin/node'))
    await run('chmod', ['755', join(dir, 'usr/local/bin/node')])
    const libs = (await run('ldd', [nodeBinary])).stdout.split('\n').flatMap(l => /(\/\S+) \(0x/.exec(l)?.[1] ?? [])
    for (const lib of libs) {
      await mkdir(join(dir, lib, '..'), { recursive: true })
      await run('cp', ['-L', lib, join(dir, lib)])
    }
    await copyFile('/bin/busybox', join(dir, 'bin/busybox'))
    for (const applet of ['sh', 'mkdir', 'chown', 'chmod', 'ls', 'cat']) await symlink('busybox', join(dir, 'bin', applet))
    await run('chmod', ['1777', join(dir, 'tmp')])
    await writeFile(join(dir, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n')
    await run('tar', ['-C', dir, '-cf', `${dir}.tar`, '.'])
    // Node and its libraries are ~120 MB: more than the default limit allows on a loaded machine.
    await d.dockerWithin(180_000, 'import', `${dir}.tar`, tag)
    return tag
  } finally {
    await rm(dir, { recursive: true, force: true })
    await rm(`${dir}.tar`, { force: true })
  }
}

export interface DockerdGate {
  endpoint: string
  /**
   * From now on, connections are accepted and left unanswered (as from a dockerd that bound its
   * socket again but does not serve its API yet); the open ones are cut, so portico's watcher
   * sees dockerd go away and come back.
   */
  stall (): void
  /** Passes every waiting and every new connection through to dockerd again. */
  release (): void
}

/** A unix socket in front of a dockerd's that passes connections through, or stalls them. */
export async function dockerdGate (d: Dockerd, path: string): Promise<DockerdGate & { close: () => Promise<void> }> {
  let stalled = false
  const open = new Set<net.Socket>()
  const waiting: net.Socket[] = []
  const pass = (c: net.Socket): void => {
    const up = net.connect(d.socket)
    up.on('error', () => c.destroy())
    up.on('close', () => c.destroy())
    c.on('close', () => up.destroy())
    c.pipe(up).pipe(c)
  }
  const server = net.createServer(c => {
    open.add(c)
    c.on('close', () => open.delete(c))
    c.on('error', () => {})
    if (stalled) { c.pause(); waiting.push(c) } else pass(c)
  })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(path, resolve) })
  return {
    endpoint: `unix://${path}`,
    stall () { stalled = true; for (const c of open) c.destroy() },
    release () { stalled = false; for (const c of waiting.splice(0)) if (!c.destroyed) pass(c) },
    close: async () => { for (const c of open) c.destroy(); await new Promise<void>(resolve => server.close(() => resolve())) }
  }
}
