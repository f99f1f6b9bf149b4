#!/usr/bin/env bash
# The project's test command (the README's, and what CI runs): set-up, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Deployment checks: cfn-lint, sam validate --lint, the arm64 sam build.
scripts/check-deploy.sh
# Every Rust test, with 10,000 cases per property and 600,000 fuzz iterations (a plain
# `cargo test` runs 20,000: tests/fuzz.rs).
export PROPTEST_CASES="${PROPTEST_CASES:-10000}"
export FUZZ_ITERATIONS="${FUZZ_ITERATIONS:-600000}"
cargo test --workspace --all-targets --locked
