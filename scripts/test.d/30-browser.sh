#!/usr/bin/env bash
# The widget, the preview page and the README card in headless Chromium, against
# `nowplaying serve` with the fake Spotify (and, for the preview page's images, a server with every
# list on and one with every list off).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
trap lib_cleanup EXIT

work=$(mktemp -d)
start_fake_spotify "$work/fake.log"
write_credentials "$work/credentials.json"
fake_admin current "{\"body\": {\"is_playing\": true, \"progress_ms\": 42000, \"currently_playing_type\": \"track\",
  \"item\": {\"type\": \"track\", \"id\": \"t1\", \"name\": \"Browser Test Song\", \"duration_ms\": 200000,
    \"external_urls\": {\"spotify\": \"https://open.spotify.com/track/t1\"},
    \"artists\": [{\"name\": \"The Fakes\"}],
    \"album\": {\"name\": \"Loopback\", \"images\": [{\"url\": \"$FAKE_URL/img/cover.png\", \"width\": 640, \"height\": 640}]}}}}"

port=$(free_port)
env -u CACHE_TABLE -u TOKEN_SECRET_ID \
  NOWPLAYING_CREDENTIALS="$work/credentials.json" \
  SPOTIFY_API_BASE_URL="$FAKE_URL" SPOTIFY_ACCOUNTS_BASE_URL="$FAKE_URL" \
  target/debug/nowplaying serve --addr "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
LIB_PIDS+=($!)
export NOWPLAYING_URL="http://127.0.0.1:$port"
wait_http "$NOWPLAYING_URL/api/spotify" 30

# The preview page with every list on (the demo turns them all on) and with every list off.
port_on=$(free_port)
env -u CACHE_TABLE -u TOKEN_SECRET_ID target/debug/nowplaying serve --demo --addr "127.0.0.1:$port_on" \
  >"$work/serve-on.log" 2>&1 &
LIB_PIDS+=($!)
export NOWPLAYING_URL_LISTS_ON="http://127.0.0.1:$port_on"
# Its own fake Spotify and credentials: the fake's refresh tokens are single-use, so two processes
# must not share one sign-in through two files.
main_fake=$FAKE_URL
start_fake_spotify "$work/fake-off.log"
off_fake=$FAKE_URL
FAKE_URL=$main_fake
write_credentials "$work/credentials-off.json"
port_off=$(free_port)
env -u CACHE_TABLE -u TOKEN_SECRET_ID -u PROFILE_ENDPOINTS SHOW_RECENT=false \
  NOWPLAYING_CREDENTIALS="$work/credentials-off.json" \
  SPOTIFY_API_BASE_URL="$off_fake" SPOTIFY_ACCOUNTS_BASE_URL="$off_fake" \
  target/debug/nowplaying serve --addr "127.0.0.1:$port_off" >"$work/serve-off.log" 2>&1 &
LIB_PIDS+=($!)
export NOWPLAYING_URL_LISTS_OFF="http://127.0.0.1:$port_off"
wait_http "$NOWPLAYING_URL_LISTS_ON/api/spotify" 30
wait_http "$NOWPLAYING_URL_LISTS_OFF/api/spotify" 30

# An episode as development-mode apps receive it (no show.publisher), on its own fake and server.
start_fake_spotify "$work/fake-episode.log"
episode_fake=$FAKE_URL
fake_admin current '{"body": {"is_playing": true, "progress_ms": 60000, "currently_playing_type": "episode",
  "item": {"type": "episode", "id": "ep7", "name": "Episode 7: Fields That Went Away", "duration_ms": 1800000,
    "external_urls": {"spotify": "https://open.spotify.com/episode/ep7"}, "images": [],
    "show": {"name": "The Development Mode Show", "images": []}}}}'
FAKE_URL=$main_fake
write_credentials "$work/credentials-episode.json"
port_episode=$(free_port)
env -u CACHE_TABLE -u TOKEN_SECRET_ID \
  NOWPLAYING_CREDENTIALS="$work/credentials-episode.json" \
  SPOTIFY_API_BASE_URL="$episode_fake" SPOTIFY_ACCOUNTS_BASE_URL="$episode_fake" \
  target/debug/nowplaying serve --addr "127.0.0.1:$port_episode" >"$work/serve-episode.log" 2>&1 &
LIB_PIDS+=($!)
export NOWPLAYING_URL_EPISODE="http://127.0.0.1:$port_episode"
wait_http "$NOWPLAYING_URL_EPISODE/api/spotify" 30

# The owner's console: its own fake Spotify with a consent page, no credentials at all (first
# setup happens in the browser; serve creates the console_key), a 2-second cache window.
start_fake_spotify "$work/fake-console.log"
console_fake=$FAKE_URL
fake_admin consent 'true'
fake_admin current "{\"body\": {\"is_playing\": true, \"progress_ms\": 1000, \"currently_playing_type\": \"track\",
  \"item\": {\"type\": \"track\", \"id\": \"t2\", \"name\": \"Console Song\", \"duration_ms\": 200000,
    \"external_urls\": {\"spotify\": \"https://open.spotify.com/track/t2\"},
    \"artists\": [{\"name\": \"The Owners\"}], \"album\": {\"name\": \"Signed In\", \"images\": []}}}}"
FAKE_URL=$main_fake
port_console=$(free_port)
env -u CACHE_TABLE -u TOKEN_SECRET_ID -u PUBLIC_URL -u PROFILE_ENDPOINTS \
  NOWPLAYING_CREDENTIALS="$work/credentials-console.json" OWNER_SPOTIFY_ID=the-owner CACHE_TTL_SECONDS=2 \
  SPOTIFY_API_BASE_URL="$console_fake" SPOTIFY_ACCOUNTS_BASE_URL="$console_fake" \
  target/debug/nowplaying serve --addr "127.0.0.1:$port_console" >"$work/serve-console.log" 2>&1 &
LIB_PIDS+=($!)
export NOWPLAYING_CONSOLE_URL="http://127.0.0.1:$port_console" CONSOLE_FAKE_URL="$console_fake"
export CONSOLE_CREDENTIALS="$work/credentials-console.json"
wait_http "$NOWPLAYING_CONSOLE_URL/api/spotify" 30

# theme=art on two album arts (the fake's red and blue covers, in Spotify's three sizes), each on
# its own fake Spotify and server.
for colour in red blue; do
  start_fake_spotify "$work/fake-$colour.log"
  fake_admin current "{\"body\": {\"is_playing\": true, \"progress_ms\": 30000, \"currently_playing_type\": \"track\",
    \"item\": {\"type\": \"track\", \"id\": \"t-$colour\", \"name\": \"A ${colour^} Record\", \"duration_ms\": 200000,
      \"external_urls\": {\"spotify\": \"https://open.spotify.com/track/t-$colour\"},
      \"artists\": [{\"name\": \"The Colours\"}],
      \"album\": {\"name\": \"${colour^}\", \"images\": [
        {\"url\": \"$FAKE_URL/img/$colour-640.jpg\", \"width\": 640, \"height\": 640},
        {\"url\": \"$FAKE_URL/img/$colour-300.jpg\", \"width\": 300, \"height\": 300},
        {\"url\": \"$FAKE_URL/img/$colour-64.jpg\", \"width\": 64, \"height\": 64}]}}}}"
  colour_fake=$FAKE_URL
  FAKE_URL=$main_fake
  write_credentials "$work/credentials-$colour.json"
  port_colour=$(free_port)
  env -u CACHE_TABLE -u TOKEN_SECRET_ID \
    NOWPLAYING_CREDENTIALS="$work/credentials-$colour.json" \
    SPOTIFY_API_BASE_URL="$colour_fake" SPOTIFY_ACCOUNTS_BASE_URL="$colour_fake" \
    target/debug/nowplaying serve --addr "127.0.0.1:$port_colour" >"$work/serve-$colour.log" 2>&1 &
  LIB_PIDS+=($!)
  export "NOWPLAYING_URL_ART_${colour^^}=http://127.0.0.1:$port_colour"
  wait_http "http://127.0.0.1:$port_colour/api/spotify" 30
done

if ! bash tests/browser/run.sh; then
  echo "--- serve log"; tail -50 "$work/serve.log"
  echo "--- serve log (lists on)"; tail -20 "$work/serve-on.log"
  echo "--- serve log (lists off)"; tail -20 "$work/serve-off.log"
  echo "--- serve log (episode)"; tail -20 "$work/serve-episode.log"
  echo "--- serve log (console)"; tail -30 "$work/serve-console.log"
  echo "--- serve log (red art)"; tail -20 "$work/serve-red.log"
  exit 1
fi
if grep -q 'test-client-secret-do-not-log\|refresh-token-\|access-[0-9]' "$work/serve.log" "$work/serve-off.log" "$work/serve-episode.log" "$work/serve-console.log" \
  "$work/serve-red.log" "$work/serve-blue.log"; then
  echo "a secret reached the server's log" >&2
  exit 1
fi
