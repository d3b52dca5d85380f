#!/usr/bin/env bash
# Browser tests for the widget, the preview page and the README card.
#
# Idempotent set-up for a fresh Debian machine run as root: installs Debian's chromium when it is
# missing, installs playwright-core from the lockfile, then runs every *.test.mjs here.
# The caller starts `nowplaying serve` (scripts/test does, with the fake Spotify) and exports
# NOWPLAYING_URL, e.g. http://127.0.0.1:3000.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if [ -z "${NOWPLAYING_URL:-}" ]; then
  echo "run.sh: NOWPLAYING_URL is not set (the base URL of a running 'nowplaying serve')" >&2
  exit 2
fi

if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  # The package lists may be missing or old on a fresh machine: update only when needed.
  if ! apt-get install -y chromium; then
    apt-get update
    apt-get install -y chromium
  fi
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "run.sh: node and npm are needed (Debian: apt-get install -y nodejs npm)" >&2
  exit 2
fi

(cd "$here" && npm ci --no-audit --no-fund)

cd "$repo"
exec node --test tests/browser/
