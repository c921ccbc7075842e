import { duration } from './fields.js'
import { configSchema } from './schema.js'
import { keyPathsOf } from './schema-keys.js'

/** Every config key that holds a duration (milliseconds once parsed), e.g. `routes[].proxy.timeouts.connect`. */
export const DURATION_PATHS: ReadonlySet<string> = keyPathsOf(configSchema, duration)
