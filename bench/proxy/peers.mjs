// Per-server config generation. Every proxy gets the same route set, on one plain and one TLS
// listener (127.0.0.1):
//   Host http-A-B-C-D-PORT.uap.bench.test  → http://A.B.C.D:PORT   (uap scenario; target must be in 127.0.0.0/8)
//   /auth/, /static/, /admin/             → upstream               (decoys ahead of /api/)
//   /api/                                 → upstream               (path scenario)
//   /dead/                                → a closed port          (502 scenario)
//   /ws                                   → ws echo server         (websocket scenario)
//   /                                     → upstream               (everything else)
import { writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'

const isRoot = process.getuid?.() === 0

/** The shared upstream: nginx, 1 worker, static files plus an upload sink. */
/** The top of every nginx config here: one worker, files in its own dir, long keep-alive. */
function nginxPreamble (d, errorLevel, connections) {
  return `${isRoot ? 'user root root;\n' : ''}worker_processes 1;
daemon off;
pid ${d}/nginx.pid;
error_log ${d}/error.log ${errorLevel};
events { worker_connections ${connections}; }
http {
  access_log off;
  client_body_temp_path ${d}/body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;`
}

export function upstreamNginx ({ dir, port, root }) {
  const d = join(dir, 'upstream-nginx')
  mkdirSync(d, { recursive: true })
  const conf = `${nginxPreamble(d, 'warn', 4096)}
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  upstream self { server 127.0.0.1:${port}; keepalive 16; }
  server {
    listen 127.0.0.1:${port} default_server reuseport backlog=4096;
    root ${root};
    # 1 MiB POST: proxy_pass (request buffering on, 2m in memory) makes this nginx read the whole
    # body before answering; \`return\` alone would answer early and discard the rest. The answer
    # "got 1048576" (the Content-Length of the buffered body) proves every byte arrived.
    location = /upload {
      client_max_body_size 2m;
      client_body_buffer_size 2m;
      proxy_pass http://self/upload-sink;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location = /upload-sink {
      client_max_body_size 2m;
      client_body_buffer_size 2m;
      return 200 "got $content_length\\n";
    }
  }
}
`
  const file = join(d, 'nginx.conf')
  writeFileSync(file, conf)
  return { cmd: 'nginx', args: ['-p', d, '-c', file], ports: [port] }
}

const UAP_RE = String.raw`^http-(?<a>127)-(?<b>\d+)-(?<c>\d+)-(?<d>\d+)-(?<port>\d+)\.uap\.bench\.test$`

function nginxPeer (ctx) {
  const d = join(ctx.dir, 'nginx')
  mkdirSync(d, { recursive: true })
  const proxied = `proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;`
  const body = `
    location /auth/ { ${proxied} }
    location /static/ { ${proxied} }
    location /admin/ { ${proxied} }
    location /api/ { ${proxied} }
    location /dead/ { proxy_pass http://dead; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location /ws {
      proxy_pass http://ws;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 1h;
    }
    location / { ${proxied} }`
  const conf = `${nginxPreamble(d, 'crit', 8192)}
  client_max_body_size 2m;
  # Stream bodies like the other proxies do, no temp files on disk.
  proxy_request_buffering off;
  proxy_max_temp_file_size 0;
  upstream up { server 127.0.0.1:${ctx.upstream}; keepalive 64; keepalive_requests 1000000; }
  upstream dead { server 127.0.0.1:${ctx.dead}; }
  upstream ws { server 127.0.0.1:${ctx.ws}; }
  ssl_certificate ${ctx.cert};
  ssl_certificate_key ${ctx.key};
  ssl_session_cache shared:SSL:10m;
  server {
    listen 127.0.0.1:${ctx.http} default_server;
    listen 127.0.0.1:${ctx.https} ssl http2 default_server;
    server_name _;${body}
  }
  # UAP equivalent: regex server_name, target from the captures (an IP literal, so no resolver).
  # proxy_pass with variables bypasses the upstream{} keepalive pool: one upstream connection per request.
  server {
    listen 127.0.0.1:${ctx.http};
    listen 127.0.0.1:${ctx.https} ssl http2;
    server_name ~${UAP_RE};
    location / {
      proxy_pass http://$a.$b.$c.$d:$port;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
  }
}
`
  const file = join(d, 'nginx.conf')
  writeFileSync(file, conf)
  return { cmd: 'nginx', args: ['-p', d, '-c', file] }
}

function haproxyPeer (ctx) {
  const file = join(ctx.dir, 'haproxy.cfg')
  // The UAP host is split with field() (no regex captures needed) and the target set with set-dst.
  writeFileSync(file, `global
  nbthread 1
  maxconn 8000
  tune.ssl.default-dh-param 2048
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  http-reuse always
frontend fe
  bind 127.0.0.1:${ctx.http}
  bind 127.0.0.1:${ctx.https} ssl crt ${ctx.pem} alpn h2,http/1.1
  acl uap hdr(host),lower -m reg ^http-127-[0-9]+-[0-9]+-[0-9]+-[0-9]+[.]uap[.]bench[.]test$
  acl auth path_beg /auth/
  acl static path_beg /static/
  acl admin path_beg /admin/
  acl api path_beg /api/
  acl dead path_beg /dead/
  acl ws path_beg /ws
  use_backend be_uap if uap
  use_backend be_up if auth || static || admin
  use_backend be_up if api
  use_backend be_dead if dead
  use_backend be_ws if ws
  default_backend be_up
backend be_up
  server up 127.0.0.1:${ctx.upstream}
backend be_dead
  # Default retries (3, with a 1 s turn-around) would stall every request to a refused port;
  # nginx and portico do not retry a single-member pool either.
  retries 0
  server dead 127.0.0.1:${ctx.dead}
backend be_ws
  server ws 127.0.0.1:${ctx.ws}
backend be_uap
  http-request set-var(req.h) req.hdr(host),lower,field(1,.)
  http-request set-var(req.o2) var(req.h),field(3,-)
  http-request set-var(req.o3) var(req.h),field(4,-)
  http-request set-var(req.o4) var(req.h),field(5,-)
  http-request set-var(req.ip) var(req.h),field(2,-),concat(.,req.o2,.),concat(,req.o3,.),concat(,req.o4)
  http-request set-dst var(req.ip)
  http-request set-dst-port var(req.h),field(6,-)
  server dyn 0.0.0.0:0
`)
  return { cmd: 'haproxy', args: ['-db', '-f', file] }
}

function caddyPeer (ctx) {
  const d = join(ctx.dir, 'caddy')
  mkdirSync(d, { recursive: true })
  const routes = `
  @uap header_regexp uap Host ^http-(127)-(\\d+)-(\\d+)-(\\d+)-(\\d+)\\.uap\\.bench\\.test$
  handle @uap {
    reverse_proxy {re.uap.1}.{re.uap.2}.{re.uap.3}.{re.uap.4}:{re.uap.5}
  }
  handle /auth/* {
    reverse_proxy 127.0.0.1:${ctx.upstream}
  }
  handle /static/* {
    reverse_proxy 127.0.0.1:${ctx.upstream}
  }
  handle /admin/* {
    reverse_proxy 127.0.0.1:${ctx.upstream}
  }
  handle /api/* {
    reverse_proxy 127.0.0.1:${ctx.upstream}
  }
  handle /dead/* {
    reverse_proxy 127.0.0.1:${ctx.dead}
  }
  handle /ws* {
    reverse_proxy 127.0.0.1:${ctx.ws}
  }
  handle {
    reverse_proxy 127.0.0.1:${ctx.upstream}
  }`
  const file = join(d, 'Caddyfile')
  writeFileSync(file, `{
  admin off
  auto_https off
  default_sni bench.test
  servers {
    protocols h1 h2
  }
}
http://:${ctx.http} {
  bind 127.0.0.1${routes}
}
https://:${ctx.https} {
  bind 127.0.0.1
  tls ${ctx.cert} ${ctx.key}${routes}
}
`)
  return { cmd: 'caddy', args: ['run', '--config', file, '--adapter', 'caddyfile'], env: { GOMAXPROCS: '1', HOME: d, XDG_DATA_HOME: d, XDG_CONFIG_HOME: d } }
}

function httpProxyPeer (ctx) {
  const script = new URL('./http-proxy-server.mjs', import.meta.url).pathname
  return { cmd: process.execPath, args: [script, JSON.stringify({ http: ctx.http, https: ctx.https, cert: ctx.cert, key: ctx.key, upstream: ctx.upstream, ws: ctx.ws, dead: ctx.dead })] }
}

function nodeFloorPeer (ctx) {
  const script = new URL('./node-floor-server.mjs', import.meta.url).pathname
  return { cmd: process.execPath, args: [...porticoNodeFlags(), script, JSON.stringify({ http: ctx.http, https: ctx.https, cert: ctx.cert, key: ctx.key, upstream: ctx.upstream })] }
}

/** portico's YAML (`workers: 1` unless the run asks for more); `engine`: `listeners[].engine` (issue 21). */
function porticoPeer (ctx, engine = 'node') {
  const d = join(ctx.dir, `portico-${engine}-w${ctx.workers}`)
  mkdirSync(d, { recursive: true })
  const up = `["http://127.0.0.1:${ctx.upstream}"]`
  const file = join(d, 'portico.yaml')
  writeFileSync(file, `state_dir: ./state
admin: null
workers: ${ctx.workers}
log: {level: warn, access: false}
listeners:
  - {name: http, address: "127.0.0.1:${ctx.http}", engine: ${engine}}
  - {name: https, address: "127.0.0.1:${ctx.https}", tls: true, engine: ${engine}}
tls:
  certificates:
    - {cert_file: ${ctx.cert}, key_file: ${ctx.key}}
routes:
  - name: uap
    uap: {domain: uap.bench.test, allow: [127.0.0.0/8], default_scheme: http}
  - {name: auth, path: /auth/, proxy: {upstreams: ${up}}}
  - {name: static, path: /static/, proxy: {upstreams: ${up}}}
  - {name: admin, path: /admin/, proxy: {upstreams: ${up}}}
  - {name: api, path: /api/, proxy: {upstreams: ${up}}}
  - {name: dead, path: /dead/, proxy: {upstreams: ["http://127.0.0.1:${ctx.dead}"]}}
  - {name: ws, path: /ws, proxy: {upstreams: ["http://127.0.0.1:${ctx.ws}"]}}
  - {name: default, proxy: {upstreams: ${up}}}
`)
  return { ...porticoCommand(file), configFile: file }
}

/**
 * portico as shipped: the systemd unit, the container image and `npm start` run Node with these
 * flags (docs/ARCHITECTURE.md#memory); the benchmarks measure the same.
 */
export const SHIPPED_NODE_FLAGS = '--max-semi-space-size=16'

/** PORTICO_BENCH_NODE_FLAGS (space-separated, may be empty) replaces them for an A/B run. */
export const porticoNodeFlags = () => (process.env.PORTICO_BENCH_NODE_FLAGS ?? SHIPPED_NODE_FLAGS).split(' ').filter(Boolean)

/** PORTICO_BENCH_CLI: another build's cli.js (an A/B of two builds in interleaved runs); default: this tree's dist/. */
export function porticoCommand (configFile) {
  const cli = process.env.PORTICO_BENCH_CLI ?? new URL('../../dist/cli.js', import.meta.url).pathname
  return { cmd: process.execPath, args: [...porticoNodeFlags(), cli, 'run', '--config', configFile] }
}

export const PEERS = {
  portico: ctx => porticoPeer(ctx),
  'portico-engine': ctx => porticoPeer(ctx, 'portico'),
  nginx: nginxPeer,
  haproxy: haproxyPeer,
  caddy: caddyPeer,
  'http-proxy': httpProxyPeer,
  'node-floor': nodeFloorPeer
}
