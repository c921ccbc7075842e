#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { USAGE } from './cli/help.js'
import { VERSION } from './version.js'
import { ConfigError, loadConfigFile } from './config/index.js'
import { compileRouteTable, explain } from './router/index.js'
import { createLogger } from './log/logger.js'
import { Daemon } from './daemon/daemon.js'
import { certificateTable } from './cli/certs.js'
import { renewCommand } from './cli/renew.js'
import cluster from 'node:cluster'
import { runWorker } from './daemon/worker-main.js'

const COMMANDS = new Set(['run', 'check', 'explain', 'certs', 'renew', 'version', 'help'])

async function main (argv: string[]): Promise<number> {
  const first = argv[0]
  const command = first !== undefined && COMMANDS.has(first) ? first : (first === '--version' ? 'version' : 'run')
  const rest = first !== undefined && COMMANDS.has(first) ? argv.slice(1) : argv
  if (command === 'help') { process.stdout.write(USAGE.main!); return 0 }
  let parsed
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: command === 'explain' || command === 'renew',
      options: {
        config: { type: 'string', short: 'c' },
        strict: { type: 'boolean' },
        'state-dir': { type: 'string' },
        'plain-http': { type: 'boolean' },
        listener: { type: 'string' },
        force: { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    process.stderr.write(`portico ${command}: ${(err as Error).message}\n\n${USAGE[command] ?? USAGE.main}`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help === true) { process.stdout.write(first === undefined || first.startsWith('-') ? USAGE.main! : USAGE[command]!); return 0 }
  const configFile = values.config ?? process.env.PORTICO_CONFIG ?? '/etc/portico/portico.yaml'
  switch (command) {
    case 'version':
      process.stdout.write(`portico ${VERSION} (node ${process.version})\n`)
      return 0
    case 'check':
      return await check(configFile)
    case 'certs':
      return await certsCommand(configFile)
    case 'renew':
      return await renew(configFile, positionals, { force: values.force === true, dryRun: values['dry-run'] === true })
    case 'explain':
      return await explainCommand(configFile, positionals, values['plain-http'] === true, values.listener)
    default:
      return await run(configFile, values.strict === true, values['state-dir'])
  }
}

async function check (file: string): Promise<number> {
  try {
    await loadConfigFile(file)
    process.stdout.write('ok\n')
    return 0
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return 1
  }
}

async function explainCommand (file: string, targets: string[], plainHttp: boolean, listener: string | undefined): Promise<number> {
  if (targets.length === 0) { process.stderr.write(USAGE.explain!); return 2 }
  let table
  try {
    table = compileRouteTable((await loadConfigFile(file)).config)
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return 1
  }
  const out = targets.map(t => JSON.stringify(explain(table, t, { tls: !plainHttp, ...(listener === undefined ? {} : { listener }) }))).join('\n')
  process.stdout.write(out + '\n')
  return 0
}

async function certsCommand (file: string): Promise<number> {
  try {
    const { text, problems } = await certificateTable((await loadConfigFile(file)).config)
    process.stdout.write(text)
    for (const p of problems) process.stderr.write(`portico certs: ${p}\n`)
    return problems.length === 0 ? 0 : 1
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return 1
  }
}

async function renew (file: string, names: string[], o: { force: boolean, dryRun: boolean }): Promise<number> {
  if (names.length !== 1) { process.stderr.write(USAGE.renew!); return 2 }
  try {
    return await renewCommand(file, names[0]!, o, { stdout: s => process.stdout.write(s), stderr: s => process.stderr.write(s) })
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return 1
  }
}

async function run (configFile: string, strict: boolean, stateDir: string | undefined): Promise<number> {
  const log = createLogger()
  process.on('uncaughtException', err => log.fatal({ err }, 'uncaught exception (bug): continuing'))
  process.on('unhandledRejection', err => log.fatal({ err }, 'unhandled rejection (bug): continuing'))
  if (cluster.isWorker) return await runWorker(log.child({ worker: Number(process.env.PORTICO_WORKER_INDEX ?? 0) }))
  const daemon = new Daemon({ configFile, strict, log, ...(stateDir === undefined ? {} : { stateDir }) })
  try {
    await daemon.start()
  } catch (err) {
    if (err instanceof ConfigError) log.fatal({ errors: err.problems }, `invalid config:\n${err.message}`)
    else log.fatal({ err }, 'startup failed')
    log.flush()
    process.stderr.write(`portico: ${(err as Error).message}\n`)
    return 1
  }
  process.on('SIGHUP', () => { void daemon.reload('SIGHUP') })
  process.on('SIGUSR1', () => daemon.reopenLogs())
  return await new Promise<number>(resolve => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'signal received')
      void daemon.stop().then(() => { log.flush(); resolve(0) })
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
}

main(process.argv.slice(2)).then(code => {
  process.exitCode = code
  // Keep-alive agents and watchers are closed by stop(); exit explicitly in case a library leaks a handle.
  setTimeout(() => process.exit(code), 50).unref()
}, err => {
  process.stderr.write(`portico: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
