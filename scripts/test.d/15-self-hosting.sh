#!/usr/bin/env bash
# Running `serve` elsewhere than AWS: the systemd unit (deploy/systemd/nowplaying.service) passes
# `systemd-analyze verify` with no complaint and `systemd-analyze security` at exposure 2.0 or
# less, and a broken copy is caught; the container (Containerfile, FROM scratch) builds with
# buildah from Debian's package and, run once, answers GET /api/spotify in demo mode.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
trap lib_cleanup EXIT

fail() { echo "self-hosting stage: $*" >&2; exit 1; }
work=$(mktemp -d)

# --- systemd ---------------------------------------------------------------------------
apt_install() {
  apt-get install -y -q "$@" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "$@" >/dev/null; }
}
command -v systemd-analyze >/dev/null || apt_install systemd
command -v readelf >/dev/null || apt_install binutils
unit=deploy/systemd/nowplaying.service
bin=$PWD/target/debug/nowplaying
[[ -x $bin ]] || cargo build --locked --bin nowplaying
# verify checks that ExecStart exists: point it at the binary just built.
sed "s|/usr/local/bin/nowplaying|$bin|" "$unit" >"$work/nowplaying.service"
verify() { systemd-analyze verify "$1" 2>&1; }
out=$(verify "$work/nowplaying.service") || fail "systemd-analyze verify failed: $out"
[[ -z $out ]] || fail "systemd-analyze verify complained: $out"
systemd-analyze security --offline=yes --threshold=20 "$work/nowplaying.service" >"$work/security.txt" 2>&1 \
  || { tail -5 "$work/security.txt"; fail "the unit's exposure is above 2.0"; }
exposure=$(grep -o 'Overall exposure level for nowplaying.service: [0-9.]*' "$work/security.txt" | awk '{print $NF}')
# Each must be caught, or this check could not fail.
sed 's/^ProtectSystem=strict/ProtectSystem=sometimes/' "$work/nowplaying.service" >"$work/bad1.service"
sed 's/^ExecStart=[^ ]*/ExecStart=\/nonexistent\/nowplaying/' "$work/nowplaying.service" >"$work/bad2.service"
for bad in bad1 bad2; do
  out=$(verify "$work/$bad.service") && [[ -z $out ]] && fail "a broken unit ($bad) passed verify"
done
grep -v '^NoNewPrivileges\|^ProtectSystem\|^ProtectHome\|^SystemCallFilter\|^CapabilityBoundingSet\|^PrivateDevices' \
  "$work/nowplaying.service" >"$work/weak.service"
if systemd-analyze security --offline=yes --threshold=20 "$work/weak.service" >/dev/null 2>&1; then
  fail "a unit without its hardening passed the exposure threshold"
fi
echo "systemd unit: verify clean, exposure $exposure (threshold 2.0), broken copies caught"

# --- container -------------------------------------------------------------------------
command -v buildah >/dev/null || apt_install buildah
scripts/container
port=$(free_port)
ctr=$(buildah --storage-driver vfs from --quiet localhost/nowplaying:latest)
cleanup_ctr() {
  buildah --storage-driver vfs rm "$ctr" >/dev/null 2>&1 || true
  buildah --storage-driver vfs rmi --prune >/dev/null 2>&1 || true
}
# chroot isolation: this sandbox refuses the OCI runtime's namespaces (buildah run's default
# fails with "did not get container create message from subprocess"), a chroot runs the image's
# own files as its user, on this machine's loopback.
buildah --storage-driver vfs run --isolation chroot --user 10001:10001 "$ctr" -- \
  /nowplaying serve --demo --addr "127.0.0.1:$port" >"$work/container.log" 2>&1 &
LIB_PIDS+=($!)
wait_http "http://127.0.0.1:$port/" 60 || { cat "$work/container.log"; cleanup_ctr; fail "the container did not serve"; }
code=$(curl -s -o "$work/answer.json" -w '%{http_code}' -m 10 "http://127.0.0.1:$port/api/spotify")
cleanup_ctr
[[ $code == 200 ]] || fail "GET /api/spotify answered $code"
grep -q '"name"' "$work/answer.json" || fail "no answer: $(cat "$work/answer.json")"
echo "container (FROM scratch, user 10001): built with buildah and answered GET /api/spotify in demo mode"
