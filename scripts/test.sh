#!/usr/bin/env bash
# The project's test command (the README's, and what CI runs): set-up, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Deployment checks: cfn-lint, sam validate --lint, the arm64 sam build.
scripts/check-deploy.sh
# Every Rust test, with 10,000 cases per property.
export PROPTEST_CASES="${PROPTEST_CASES:-10000}"
cargo test --all-targets --locked
