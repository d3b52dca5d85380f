#!/usr/bin/env bash
# The SAM template: sam validate --lint and cfn-lint (tools pinned in scripts/deploy-checks), then
# tests/deploy/template_test.py: every combination of the optional parameters (AlertEmail,
# EnableCdn, ProfileEndpoints, AllowedOrigins) creates exactly the resources it asks for, the CDN's
# cache keys and origin protection hold, cfn-lint passes with it, and the IAM actions are exactly
# the SDK calls in src/store/.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/deploy-checks tools lint
.venv-tools/bin/python tests/deploy/template_test.py --self-test
