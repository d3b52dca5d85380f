#!/usr/bin/env bash
# The SAM template: sam validate --lint and cfn-lint (tools pinned in scripts/deploy-checks).
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/deploy-checks tools lint
