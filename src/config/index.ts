export { loadConfigFile, parseConfigText, ConfigError, formatProblem } from './load.js'
export type { ConfigProblem, LoadedConfig } from './load.js'
export type { Config, RouteConfig, ListenerConfig, UapConfig, ProxyConfig, PortRange } from './schema.js'
export { configSchema } from './schema.js'
