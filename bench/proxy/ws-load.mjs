// WebSocket load: N connections each doing ping-pong of a small message (send, wait for the echo,
// send again). Prints "measure-start" after the warm-up so the harness can sample CPU, then
// "measure-end" and a JSON line { messages, seconds, p50_ms, p99_ms, errors }.
// Usage: node ws-load.mjs URL CONNECTIONS WARMUP_S DURATION_S
import WebSocket from 'ws'

const [url, n, warm, dur] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])]
const payload = Buffer.alloc(32, 'x')
let measuring = false
let messages = 0
let errors = 0
let samples = []
const socks = []

function open () {
  return new Promise(resolve => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    let sent = 0n
    const send = () => { sent = process.hrtime.bigint(); ws.send(payload) }
    ws.on('open', () => { socks.push(ws); send(); resolve() })
    ws.on('message', () => {
      if (measuring) {
        messages++
        if (samples.length < 2_000_000) samples.push(Number(process.hrtime.bigint() - sent) / 1e6)
      }
      send()
    })
    ws.on('error', () => { errors++; resolve() })
    ws.on('close', () => { if (measuring) errors++ })
  })
}

const timeout = setTimeout(() => { process.stdout.write('timeout\n'); process.exit(2) }, (warm + dur + 30) * 1000)
await Promise.all(Array.from({ length: n }, open))
await new Promise(resolve => setTimeout(resolve, warm * 1000))
process.stdout.write('measure-start\n')
const t0 = process.hrtime.bigint()
measuring = true
samples = []
await new Promise(resolve => setTimeout(resolve, dur * 1000))
measuring = false
const seconds = Number(process.hrtime.bigint() - t0) / 1e9
process.stdout.write('measure-end\n')
for (const ws of socks) ws.terminate()
samples.sort((a, b) => a - b)
const pct = q => samples.length ? samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] : NaN
if (socks.length < n) errors += n - socks.length
process.stdout.write(JSON.stringify({ messages, seconds, p50_ms: pct(0.5), p99_ms: pct(0.99), errors, connected: socks.length }) + '\n')
clearTimeout(timeout)
process.exit(0)
