#!/usr/bin/env bash
# The packaged release (issue: deploy without a Rust toolchain): scripts/package writes dist/
# (the arm64 zip, the generated template, static x86_64 and aarch64 command-line binaries,
# SHA256SUMS); tests/deploy/package_test.py checks it (and that broken copies fail); the generated
# template passes cfn-lint and `sam validate --lint`; `sam package` uploads it to the AWS
# emulator's S3, as far as a deploy goes without an AWS account; the x86_64 binary runs here.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${AWS_ENDPOINT_URL:?scripts/test starts the AWS emulator and sets AWS_ENDPOINT_URL}"
fail() { echo "package stage: $*" >&2; exit 1; }

# The suite's one release build is the function's (shared with 25-sam-build.sh); the command-line
# binaries are checked in the dev profile (a release builds them with --release).
CLI_PROFILE=dev scripts/package
VENV=.venv-tools
"$VENV/bin/python" tests/deploy/package_test.py --self-test
export PATH="$PWD/$VENV/bin:$PATH"
(
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export SAM_CLI_TELEMETRY=0
  cfn-lint dist/template.yaml || fail "cfn-lint refused dist/template.yaml"
  sam validate --lint --template dist/template.yaml --region us-east-1 >/dev/null \
    || fail "sam validate --lint refused dist/template.yaml"
  bucket="nowplaying-package-$RANDOM$RANDOM"
  .tools/venv/bin/python -c "import boto3, sys; boto3.client('s3').create_bucket(Bucket=sys.argv[1])" "$bucket"
  sam package --template-file dist/template.yaml --s3-bucket "$bucket" \
    --output-template-file "$(mktemp -d)/packaged.yaml" >/dev/null 2>"$PWD/target/sam-package.log" \
    || { cat target/sam-package.log; fail "sam package did not upload dist/"; }
  .tools/venv/bin/python - "$bucket" <<'PY' || fail "the zip did not reach the bucket"
import boto3, sys
keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=sys.argv[1]).get("Contents", [])]
assert keys, keys
PY
)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
"dist/nowplaying-$version-x86_64-linux" --version | grep -q "$version" || fail "the x86_64 binary does not run"
echo "package: dist/ checked, its template linted and uploaded by sam package to the emulator's S3, the static binary runs"
