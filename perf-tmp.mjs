import { loadConfigFile } from './dist/config/index.js'
import { buildSnapshot } from './dist/daemon/build-snapshot.js'
import { Serving } from './dist/daemon/serving.js'
import { Metrics } from './dist/admin/index.js'
import { createLogger } from './dist/log/logger.js'
import { EMPTY_NAME_TABLE } from './dist/dns/index.js'
const variant = process.argv[3] ?? 'full'
const { config } = await loadConfigFile(process.argv[2])
const log = createLogger(); log.level = 'warn'
const metrics = new Metrics({ connections: () => 0, certificates: async () => [], docker: () => null })
if (variant === 'nometrics') metrics.observe = () => {}
const serving = new Serving(log, metrics, { reusePort: false })
const built = await buildSnapshot(config, serving.dispatchers, EMPTY_NAME_TABLE)
await (await serving.prepare(built)).commit()
process.on('SIGINT', () => process.exit(0))
