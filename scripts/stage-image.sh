#!/usr/bin/env bash
# Prepares the Docker build context for the portico image: the built dist/, config/ and the
# production dependencies only (installed from the npm cache or registry here, on the host),
# so `docker build` needs no network.
set -euo pipefail
out=${1:?usage: scripts/stage-image.sh OUTDIR}
root=$(cd "$(dirname "$0")/.." && pwd)
[[ -f "$root/dist/cli.js" ]] || (cd "$root" && npm run build)
rm -rf "$out" && mkdir -p "$out"
cp -r "$root/dist" "$root/config" "$root/package.json" "$root/package-lock.json" "$root/Dockerfile" "$out/"
# --ignore-scripts: the image brings its own Node, so the project-local runtime is not needed.
(cd "$out" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error)
rm -f "$out/node_modules/.bin/node"
echo "$out"
