export { compressingReply, type CompressRequest } from './reply.js'
export { compileCompress, type CompressSettings } from './settings.js'
export { chooseEncoding, type Encoding } from './negotiate.js'
