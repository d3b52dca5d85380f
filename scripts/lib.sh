# Helpers shared by scripts/test, its stages (scripts/test.d) and scripts/bench. Source it; it
# needs bash.
# Every process started here is recorded in LIB_PIDS; call lib_cleanup from an EXIT trap.

LIB_PIDS=()
lib_cleanup() {
  local pid
  for pid in "${LIB_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${LIB_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL [SECONDS]: waits until URL answers at all.
wait_http() {
  local url=$1 secs=${2:-30} i
  for ((i = 0; i < secs * 10; i++)); do
    curl -s -o /dev/null "$url" && return 0
    sleep 0.1
  done
  echo "nothing answered at $url within ${secs}s" >&2
  return 1
}

# start_fake_spotify LOGFILE: starts the fake Spotify (built by cargo build --all-targets) on a
# free port; sets FAKE_URL.
start_fake_spotify() {
  local port
  port=$(free_port)
  target/debug/examples/fake_spotify --port "$port" >"$1" 2>&1 &
  LIB_PIDS+=($!)
  FAKE_URL="http://127.0.0.1:$port"
  wait_http "$FAKE_URL/_admin/stats" 20
}

# fake_admin PATH JSON: scripts the fake Spotify.
fake_admin() {
  curl -sf -X POST -H 'content-type: application/json' --data "$2" "$FAKE_URL/_admin/$1" >/dev/null
}

# write_credentials FILE: the fake's client and first refresh token, mode 0600.
write_credentials() {
  (umask 077 && printf '{"client_id":"test-client-id","client_secret":"test-client-secret-do-not-log","refresh_token":"refresh-token-0","authorized_at":"%s"}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$1")
}
