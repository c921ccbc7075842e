#!/usr/bin/env bash
# Installs the Debian packages portico's tests and benchmarks use. Idempotent: when everything
# is present it does nothing (no apt-get update), so it is quick on a warm machine.
set -euo pipefail

PACKAGES=(
  iproute2      # ip: loopback-only network namespaces for tests that feed hostile targets
  util-linux    # unshare: same
  curl          # README demo check, manual probing
  openssl       # inspecting certificates in tests and docs
  procps        # ps/pkill in test cleanup
  chromium      # headless browser: CORS proxy flow as a person's browser runs it
  docker.io     # dockerd: the Docker-events registry, DNS and vhosting tests start their own
  busybox-static # the tests' container image (docker import of a busybox rootfs; no registry)
  bind9-dnsutils # dig: the DNS server as a resolver client sees it
  pebble        # Let's Encrypt's test CA (and pebble-challtestsrv) for the ACME tests
  bind9         # named: RFC 2136 dynamic updates with TSIG for the ACME rfc2136 provider
  certbot       # the ACME store stays certbot's layout: a test renews with portico, then rolls back to certbot
  dnsperf       # npm run bench: DNS server queries per second
  dnsmasq-base  # npm run bench: DNS peer (the binary only, no system service; the harness starts its own)
  nginx-light   # npm run bench: proxy peer and the shared upstream (started by the harness only)
  haproxy       # npm run bench: proxy peer
  caddy         # npm run bench: proxy peer
  wrk           # npm run bench: HTTP/1.1 load generator
  nghttp2-client # h2load: npm run bench's HTTP/2 load generator
  systemd       # systemd-analyze: verify the unit and score its hardening
  etcd-server   # etcd: the cluster tests start their own members on loopback (never the packaged service)
  etcd-client   # etcdctl: inspecting a test etcd by hand, and the docs' examples
)

missing=()
for p in "${PACKAGES[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

# The nginx, haproxy, caddy and etcd-server packages start their system daemon on install (nginx takes port 80).
# The benchmark starts its own instances, so keep the packaged ones stopped and disabled. Only the
# daemons as their unit or init script starts them (system config) are matched, never other
# instances of the same binaries. Idempotent: nothing happens when they are stopped and disabled.
DAEMONS=(
  "nginx|^nginx: master process /usr/sbin/nginx -g daemon on; master_process on;"
  "haproxy|^/usr/sbin/haproxy .*-f /etc/haproxy/haproxy[.]cfg"
  "caddy|^/usr/bin/caddy run --environ --config /etc/caddy/Caddyfile"
  "etcd|^/usr/bin/etcd( |$)|etcd-server"
)
quiet_daemons() {
  local entry svc pattern pkg
  for entry in "${DAEMONS[@]}"; do
    # service|pattern, or service|pattern|package when the package is named otherwise
    IFS='|' read -r svc pattern pkg <<<"$entry"
    dpkg-query -W -f='${Status}' "${pkg:-$svc}" 2>/dev/null | grep -q "install ok installed" || continue
    if [[ -d /run/systemd/system ]]; then # systemd is PID 1
      if systemctl -q is-enabled "$svc" 2>/dev/null || systemctl -q is-active "$svc" 2>/dev/null; then
        echo "install-deps: disabling the packaged $svc service"
        $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
      fi
    elif ls /etc/rc[2-5].d/S??"$svc" >/dev/null 2>&1; then
      echo "install-deps: disabling the packaged $svc init script"
      $SUDO update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
    if pgrep -f "$pattern" >/dev/null; then
      echo "install-deps: stopping the packaged $svc daemon"
      if [[ -x /etc/init.d/$svc ]]; then $SUDO service "$svc" stop >/dev/null 2>&1 || true; fi
      for _ in 1 2 3 4 5 6 7 8 9 10; do pgrep -f "$pattern" >/dev/null || break; sleep 0.5; done
      if pgrep -f "$pattern" >/dev/null; then $SUDO pkill -f "$pattern" || true; fi
    fi
  done
}

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

if [[ ${#missing[@]} -eq 0 ]]; then
  quiet_daemons
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
quiet_daemons
