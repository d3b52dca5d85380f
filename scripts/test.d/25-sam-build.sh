#!/usr/bin/env bash
# `sam build` as an owner runs it before `sam deploy`: the one arm64 release build of the suite
# (SAM's rust-cargolambda method runs cargo lambda in the source tree, so target/ is cargo's cache),
# then checks that .aws-sam/build/NowPlayingFunction/bootstrap is an aarch64 ELF that
# provided.al2023 can load and that its zipped size is within budget. No AWS call, no Docker.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/deploy-checks build
