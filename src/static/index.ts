export { compileStaticSite, type StaticSite } from './site.js'
export { serveStatic, type StaticRequest, type StaticOutcome } from './serve.js'
export { relativeFilePath } from './safe-path.js'
export { byteRange, notModified, entityTag } from './conditional.js'
