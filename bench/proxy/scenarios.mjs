// The scenarios (names are part of the results format). `unit: 'bytes'` scenarios are compared on
// MB per CPU-second, `unit: 'latency'` ones on p99 at a fixed offered load, the rest on requests
// (or websocket messages) per CPU-second.
export const MiB = 1024 * 1024

export const SCENARIOS = [
  { name: 'small', what: '≈60 B response, keep-alive, wrk -c 50', tool: 'wrk', path: '/small.txt', connections: 50 },
  { name: 'newconn', what: 'new connection per request (Connection: close), wrk -c 50', tool: 'wrk', path: '/small.txt', connections: 50, headers: ['Connection: close'] },
  { name: '1mib', what: '1 MiB download, keep-alive, wrk -c 10', tool: 'wrk', path: '/1mib.bin', connections: 10, unit: 'bytes', payload: MiB },
  { name: 'upload-1mib', what: '1 MiB POST body (wrk lua), upstream answers 200 after reading it, wrk -c 10', tool: 'wrk', path: '/upload', connections: 10, unit: 'bytes', payload: MiB, script: 'upload' },
  { name: 'tls', what: 'TLS termination (ECDSA P-256), HTTP/1.1 keep-alive, wrk -c 50', tool: 'wrk', tls: true, path: '/small.txt', connections: 50, noDirect: true },
  { name: 'h2', what: 'HTTP/2 over TLS, h2load -c 10 -m 10', tool: 'h2load', tls: true, path: '/small.txt', clients: 10, streams: 10, noDirect: true, h2: true },
  { name: 'websocket', what: 'WebSocket echo, 50 connections ping-ponging 32 B messages (messages/s)', tool: 'ws', path: '/ws', connections: 50 },
  { name: 'uap', what: 'UAP-style host routing: Host http-127-0-0-1-PORT.uap.bench.test → 127.0.0.1:PORT (regex, target limited to 127.0.0.0/8)', tool: 'wrk', path: '/small.txt', connections: 50, uap: true, noDirect: true },
  { name: 'path', what: 'path-prefix route /api/ behind three other prefix routes', tool: 'wrk', path: '/api/small.txt', connections: 50, noDirect: true },
  { name: 'p99-half', what: 'p99 latency at a fixed offered load of half of nginx\'s maximum (its closed-loop small req/s, probed in the same run): h2load --h1 --rps, 50 clients, one request in flight each; "vs nginx" here is p99 ÷ nginx\'s p99 (issue 21: ≤ 2)', tool: 'rate', path: '/small.txt', clients: 50, unit: 'latency', noDirect: true },
  { name: '502', what: 'upstream down (closed port): 502 is the expected status (503 from HAProxy, which answers a refused connection that way)', tool: 'wrk', path: '/dead/small.txt', connections: 50, script: 'status502', expect502: true, noDirect: true }
]
