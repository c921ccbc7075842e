export const USAGE: Record<string, string> = {
  main: `portico — edge gateway: UAP and CORS proxy, Docker DNS, ACME

Usage: portico [command] [options]

Commands:
  run       start the daemon (default)
  check     validate a config file
  explain   print the routing decision for host names
  certs     list certificates: names, issuer, expiry, next renewal
  renew     renew an ACME certificate now (through the running daemon)
  config push FILE  validate shared routes and write them to etcd (cluster.config_key)
  hash-password  print a bcrypt hash for basic_auth.users (password from stdin or a prompt)
  version   print the version

Run 'portico <command> --help' for a command's options.
`,
  run: `Usage: portico run [--config FILE] [--last-good] [--state-dir DIR] [--log-format F]

Starts the daemon. An invalid or missing config file refuses the start (errors on stderr, exit 1).
Reloads the config on file change and on SIGHUP (a failed reload keeps the running config);
SIGTERM/SIGINT drain in-flight requests (shutdown_timeout) and exit 0.

  --config FILE     config file (default: $PORTICO_CONFIG or /etc/portico/portico.yaml)
  --last-good       when the file is invalid, serve the last-known-good copy kept in the state
                    dir instead of refusing (reported on stderr, /readyz "degraded", the
                    portico_config_stale gauge and the status page)
  --state-dir DIR   where to look for the last-known-good config when the file is invalid
  --log-format F    auto (default: readable lines on a terminal, JSON otherwise), json or console
  --strict          the default (kept for old unit files)
`,
  'hash-password': `Usage: portico hash-password [--cost N]

Reads a password and prints its bcrypt hash for routes[].basic_auth.users. On a terminal it
prompts twice without echo; otherwise it reads stdin (one line, the trailing newline is not part
of the password):  printf '%s' "$PW" | portico hash-password
Never takes the password as an argument (ps and shell history would see it).

  --cost N   bcrypt cost factor, 4-15 (default 10; each step doubles the verification time)
`,
  config: `Usage: portico config push [--config FILE] ROUTES_FILE

With cluster.config_key, every instance takes its routes and tcp_routes from that etcd key.
ROUTES_FILE holds only those two keys. It is validated together with the config file exactly as
'portico check' validates a file (problems as ROUTES_FILE:LINE:COL, exit 1, nothing written),
then written to the key; every instance applies it (or, if it does not fit that instance's
file, keeps serving what it had and logs why). Uses the config file's cluster section to reach etcd.
`,
  check: `Usage: portico check [--config FILE]

Runs every validation 'portico run' does, short of binding sockets: the schema, cross-key
checks (unique route names, placeholders, admin token, bind addresses) and the files the config
names (certificates parse and match their keys, CA bundles, secrets). Prints "ok" and exits 0,
or prints one FILE:LINE:COL error per problem and exits 1.
`,
  explain: `Usage: portico explain [--config FILE] [--plain-http] [--listener NAME] TARGET...

Prints the routing decision for each TARGET (host[/path], or a URL whose scheme picks HTTP or
HTTPS) as one JSON line with the fields
host, path, route, action (proxy, deny, redirect, respond, cors-proxy, static, none), target
(upstream URL when proxying, else null), location, status, reason and gates (the route's gates
that would run, in order: client_allow/client_deny, basic_auth, forward_auth, request_headers,
strip_prefix). Starts no listener and reads no certificate.

  --plain-http      decide as for a plain-HTTP request (default: HTTPS)
  --listener NAME   decide as for a request on this listener
`,
  certs: `Usage: portico certs [--config FILE]
       portico certs import [--config FILE] LIVE_DIR

Prints a table of the certificates the config serves (ACME-managed, files, self-signed): names,
issuer, not-after, days left, next renewal (or the retry time after a failure), failure count,
source and last error. Reads the files; no daemon needed. Exits 1 (reasons on stderr) when a
certificate cannot be served as configured.

import: stores the config's ACME certificates found in a certbot live/ directory
(LIVE_DIR/<name>/fullchain.pem, privkey.pem) in the cluster's etcd (cluster section with
secret_file needed), unless etcd holds one valid as long or longer; running instances install
them at once. Exits 1 when one could not be imported.
`,
  renew: `Usage: portico renew [--config FILE] [--force] [--dry-run] NAME

Asks the running daemon (admin API) to renew the ACME certificate NAME now; without --force
only when it is due. The new certificate is swapped in without a restart.

  --dry-run   order from the staging directory (acme.staging_directory) to prove the setup:
              challenges, DNS, CA; nothing is stored, swapped or counted as a failure
`,
  version: `Usage: portico version

Prints the version.
`
}
