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
  dnsperf       # npm run bench: DNS server queries per second
  systemd       # systemd-analyze: verify the unit and score its hardening
)

missing=()
for p in "${PACKAGES[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
