#!/usr/bin/env bash
# The Lambda binary end to end under cargo-lambda's runtime emulator (`cargo lambda watch`),
# against the AWS emulator (DynamoDB table + Secrets Manager secret) and the fake Spotify,
# through the function URL path. (The arm64 release build is 25-sam-build.sh's `sam build`.)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
trap lib_cleanup EXIT
: "${AWS_ENDPOINT_URL:?scripts/test starts the AWS emulator and sets AWS_ENDPOINT_URL}"
export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_DEFAULT_REGION=$AWS_REGION

scripts/deploy-checks tools >/dev/null
PY=.tools/venv/bin/python   # moto brings boto3

work=$(mktemp -d)
start_fake_spotify "$work/fake.log"
fake_admin current '{"body": {"is_playing": true, "progress_ms": 1000, "currently_playing_type": "track",
  "item": {"type": "track", "id": "l1", "name": "Lambda Emulator Song", "duration_ms": 180000,
    "external_urls": {"spotify": "https://open.spotify.com/track/l1"},
    "artists": [{"name": "The Runtimes"}], "album": {"name": "Bootstrap", "images": []}}}}'

suffix=$RANDOM$RANDOM
table="nowplaying-lambda-$suffix"
history="nowplaying-history-$suffix"
secret="nowplaying/lambda-$suffix"
write_credentials "$work/credentials.json"
"$PY" - "$table" "$secret" "$work/credentials.json" "$history" <<'PY'
import sys, boto3
table, secret, creds, history = sys.argv[1:5]
ddb = boto3.client("dynamodb")
# The history's table as the template makes it (HistoryTable).
ddb.create_table(TableName=history, BillingMode="PAY_PER_REQUEST",
                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                       {"AttributeName": "sk", "AttributeType": "S"}],
                 KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                            {"AttributeName": "sk", "KeyType": "RANGE"}])
ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                 KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
boto3.client("secretsmanager").create_secret(Name=secret, SecretString=open(creds).read())
PY

port=$(free_port)
export PATH="$PWD/.venv-tools/bin:$PATH"
cargo lambda watch --bin nowplaying-lambda --ignore-changes -A 127.0.0.1 -P "$port" \
  --env-var "TOKEN_SECRET_ID=$secret,CACHE_TABLE=$table,CACHE_TTL_SECONDS=5" \
  --env-var "PROFILE_ENDPOINTS=history,HISTORY_TABLE=$history" \
  --env-var "SPOTIFY_API_BASE_URL=$FAKE_URL,SPOTIFY_ACCOUNTS_BASE_URL=$FAKE_URL" \
  --env-var "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL,AWS_REGION=$AWS_REGION,AWS_ACCESS_KEY_ID=test,AWS_SECRET_ACCESS_KEY=test" \
  --env-var "ALLOWED_ORIGINS=https://me.example,AWS_LAMBDA_LOG_FORMAT=JSON" \
  >"$work/watch.log" 2>&1 &
LIB_PIDS+=($!)
base="http://127.0.0.1:$port/lambda-url/nowplaying-lambda"
wait_http "http://127.0.0.1:$port/" 120

fail() { echo "lambda stage: $*" >&2; echo "--- cargo lambda watch log"; tail -40 "$work/watch.log"; exit 1; }

# The first invocation builds and starts the function; allow it time.
code=$(curl -s -o "$work/body.json" -D "$work/headers.txt" -w '%{http_code}' -m 600 \
  -H 'origin: https://me.example' "$base/api/spotify") || fail "no answer"
[[ $code == 200 ]] || fail "GET /api/spotify answered $code: $(cat "$work/body.json")"
grep -q '"name":"Lambda Emulator Song"' "$work/body.json" || fail "unexpected body $(cat "$work/body.json")"
grep -qi '^access-control-allow-origin: https://me.example' "$work/headers.txt" || fail "no CORS header"
grep -qi '^etag:' "$work/headers.txt" || fail "no ETag"

# Second request: a cache hit from DynamoDB, no further Spotify call.
curl -sf -m 30 "$base/api/spotify" >/dev/null || fail "second GET failed"
calls=$(curl -s "$FAKE_URL/_admin/stats" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["currently_playing"])')
[[ $calls == 1 ]] || fail "expected 1 currently-playing call, saw $calls"

# The rotated refresh token landed in the secret, with the other fields intact.
"$PY" - "$secret" "$FAKE_URL" <<'PY' || fail "secret check"
import json, sys, urllib.request, boto3
secret, fake = sys.argv[1:3]
doc = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"])
valid = json.load(urllib.request.urlopen(fake + "/_admin/stats"))["valid_refresh_token"]
assert doc["refresh_token"] == valid != "refresh-token-0", (doc.get("refresh_token") == valid)
assert doc["client_id"] == "test-client-id" and "authorized_at" in doc
PY

# The history's schedule: the template's EventBridge input, through the Lambda Invoke API, stores
# the plays recently-played lists (two), and a second run stores nothing twice.
fake_admin recent '{"body": {"items": [
  {"played_at": "2026-12-01T10:03:30.000Z", "track": {"type": "track", "id": "h2", "uri": "spotify:track:h2",
   "name": "Second Play", "artists": [{"name": "The Runtimes"}], "album": {"name": "Bootstrap", "images": []}}},
  {"played_at": "2026-12-01T10:00:00.000Z", "track": {"type": "track", "id": "h1", "uri": "spotify:track:h1",
   "name": "First Play", "artists": [{"name": "The Runtimes"}], "album": {"name": "Bootstrap", "images": []}}}]}}'
invoke="http://127.0.0.1:$port/2015-03-31/functions/nowplaying-lambda/invocations"
for expected in 2 0; do
  curl -s -m 120 -X POST -d '{"nowplaying": "collect"}' "$invoke" >"$work/collect.json" || fail "no answer to the schedule event"
  "$PY" - "$work/collect.json" "$expected" <<'PY' || fail "schedule event answered $(cat "$work/collect.json")"
import json, sys
out = json.load(open(sys.argv[1]))
assert out["collected"]["new"] == int(sys.argv[2]), out
PY
done
"$PY" - "$history" <<'PY' || fail "history table check"
import sys, boto3
items = boto3.client("dynamodb").query(TableName=sys.argv[1], KeyConditionExpression="pk = :m",
    ExpressionAttributeValues={":m": {"S": "2026-12"}})["Items"]
assert len(items) == 2, items
PY

code=$(curl -s -o "$work/404.json" -w '%{http_code}' -m 30 "$base/nope")
[[ $code == 404 ]] || fail "unknown path answered $code"
# (cargo-lambda's emulator answers CORS preflights itself, so OPTIONS is tested through the
# lambda_http adapter in tests/it/lambda_events.rs instead.)
code=$(curl -s -o "$work/405.json" -D "$work/405.txt" -w '%{http_code}' -m 30 -X POST "$base/api/spotify")
[[ $code == 405 ]] || fail "POST answered $code"
grep -qi '^allow: GET, HEAD, OPTIONS' "$work/405.txt" || fail "405 without Allow"
if grep -q 'test-client-secret-do-not-log\|refresh-token-[0-9]\|access-[0-9]' "$work/watch.log"; then
  fail "a secret reached the function's log"
fi
echo "lambda emulator: GET, cache hit, rotation into the secret, the history's schedule event, 404 and 405 all as expected"
