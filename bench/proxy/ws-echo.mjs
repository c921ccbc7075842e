// WebSocket echo upstream (ws): every message is sent back as is. Port from argv[2].
import { WebSocketServer } from 'ws'
const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2]), perMessageDeflate: false })
wss.on('connection', ws => ws.on('message', (data, binary) => ws.send(data, { binary })))
wss.on('listening', () => process.stdout.write('listening\n'))
