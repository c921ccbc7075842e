export { startAdmin } from './server.js'
export type { AdminBackend } from './server.js'
export { redact } from './redact.js'
