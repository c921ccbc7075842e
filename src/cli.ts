#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { USAGE } from './cli/help.js'
import { VERSION } from './version.js'
import { ConfigError, didYouMean, loadConfigFile } from './config/index.js'
import { explainTargets } from './cli/explain.js'
import { compileRouteTable } from './router/index.js'
import { certificateTable } from './cli/certs.js'
import { renewCommand } from './cli/renew.js'
import cluster from 'node:cluster'

const COMMANDS = new Set(['run', 'check', 'explain', 'certs', 'renew', 'config', 'hash-password', 'version', 'help'])

async function main (argv: string[]): Promise<number> {
  const first = argv[0]
  if (first === '--version' || first === '-V') return await main(['version', ...argv.slice(1)])
  // `portico` alone or with options runs the daemon; a word that is no command is a typo, not `run`.
  if (first !== undefined && !first.startsWith('-') && !COMMANDS.has(first)) {
    const hint = didYouMean(first, COMMANDS)
    process.stderr.write(`portico: unknown command ${JSON.stringify(first)}${hint === undefined ? '' : ` (did you mean ${hint}?)`}\n\n${USAGE.main!}`)
    return 2
  }
  const command = first !== undefined && COMMANDS.has(first) ? first : 'run'
  const rest = first !== undefined && COMMANDS.has(first) ? argv.slice(1) : argv
  if (command === 'help') { process.stdout.write(USAGE.main!); return 0 }
  let parsed
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: command === 'explain' || command === 'renew' || command === 'certs' || command === 'config',
      options: {
        config: { type: 'string', short: 'c' },
        strict: { type: 'boolean' },
        'last-good': { type: 'boolean' },
        'log-format': { type: 'string' },
        'state-dir': { type: 'string' },
        'plain-http': { type: 'boolean' },
        listener: { type: 'string' },
        force: { type: 'boolean' },
        cost: { type: 'string' },
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
    case 'hash-password': {
      // Loaded on demand, like the daemon's modules: check/explain stay fast.
      const { hashPasswordCommand } = await import('./cli/hash-password.js')
      return await hashPasswordCommand(values.cost, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr })
    }
    case 'certs':
      if (positionals[0] === 'import' && positionals.length === 2) return await certsImport(configFile, positionals[1]!)
      if (positionals.length > 0) { process.stderr.write(USAGE.certs!); return 2 }
      return await certsCommand(configFile)
    case 'renew':
      return await renew(configFile, positionals, { force: values.force === true, dryRun: values['dry-run'] === true })
    case 'config': {
      if (positionals[0] !== 'push' || positionals.length !== 2) { process.stderr.write(USAGE.config!); return 2 }
      const { configPush } = await import('./cli/config-push.js')
      return await configPush(configFile, positionals[1]!, { stdout: process.stdout, stderr: process.stderr })
    }
    case 'explain':
      return await explainCommand(configFile, positionals, values['plain-http'] === true, values.listener)
    default:
      if (values.strict === true && values['last-good'] === true) {
        process.stderr.write(`portico run: --strict and --last-good contradict each other\n\n${USAGE.run!}`)
        return 2
      }
      const logFormat = values['log-format'] ?? 'auto'
      if (logFormat !== 'auto' && logFormat !== 'json' && logFormat !== 'console') {
        process.stderr.write(`portico run: --log-format is auto, json or console, not ${JSON.stringify(logFormat)}\n`)
        return 2
      }
      return await run(configFile, values['last-good'] === true, values['state-dir'], logFormat)
  }
}

async function check (file: string): Promise<number> {
  try {
    // The same validation as `run` (schema, cross-checks, the files it names) plus the route
    // compile a snapshot build starts with; only binding is left out.
    compileRouteTable((await loadConfigFile(file, { files: true })).config)
    process.stdout.write('ok\n')
    return 0
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return 1
  }
}

async function explainCommand (file: string, targets: string[], plainHttp: boolean, listener: string | undefined): Promise<number> {
  if (targets.length === 0) { process.stderr.write(USAGE.explain!); return 2 }
  let result
  try {
    result = explainTargets((await loadConfigFile(file)).config, targets, { plainHttp, listener })
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return 1
  }
  if (!result.ok) { process.stderr.write(`portico explain: ${result.error}\n`); return 2 }
  process.stdout.write(result.out)
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

async function certsImport (file: string, dir: string): Promise<number> {
  try {
    const { importCertificates } = await import('./cli/certs-import.js')
    return await importCertificates((await loadConfigFile(file, { files: true })).config, dir, line => process.stdout.write(line))
  } catch (err) {
    process.stderr.write(`portico certs import: ${(err as Error).message}
`)
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

async function run (configFile: string, lastGood: boolean, stateDir: string | undefined, logFormat: 'auto' | 'json' | 'console'): Promise<number> {
  // The daemon's modules load only here, so check/explain start fast.
  const [{ createLogger }, { Daemon }, { runWorker }] = await Promise.all([import('./log/logger.js'), import('./daemon/daemon.js'), import('./daemon/worker-main.js')])
  const log = createLogger('info', logFormat)
  process.on('uncaughtException', err => log.fatal({ err }, 'uncaught exception (bug): continuing'))
  process.on('unhandledRejection', err => log.fatal({ err }, 'unhandled rejection (bug): continuing'))
  if (cluster.isWorker) return await runWorker(log.child({ worker: Number(process.env.PORTICO_WORKER_INDEX ?? 0) }))
  const daemon = new Daemon({ configFile, lastGood, log, ...(stateDir === undefined ? {} : { stateDir }) })
  try {
    await daemon.start()
  } catch (err) {
    if (err instanceof ConfigError) log.fatal({ errors: err.problems }, `invalid config:\n${err.message}`)
    else log.fatal({ err }, 'startup failed')
    log.flush()
    process.stderr.write(`portico: ${err instanceof ConfigError ? 'invalid config, not starting:\n' : ''}${(err as Error).message}\n`)
    return 1
  }
  if (daemon.stale !== undefined) process.stderr.write(`portico: ERROR: ${daemon.stale}\n`)
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
