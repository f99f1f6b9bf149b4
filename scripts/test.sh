#!/usr/bin/env bash
# The project's test command (the README's, and what CI runs): set-up, then every test.
#   scripts/test.sh                         set-up, deployment checks, every test
#   scripts/test.sh --test writer_moto      set-up, then only `cargo test --locked --test writer_moto`
# Arguments replace the workspace-wide selection and skip the deployment checks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The Python tools (moto_server, cfn-lint, sam, cargo-lambda as `cargo lambda`) come from the
# project's virtual environment (scripts/setup.sh); the tests find them on this PATH.
export PATH="$PWD/.venv/bin:$PATH"
# Every Rust test, with 10,000 cases per property and 600,000 fuzz iterations (a plain
# `cargo test` runs 20,000: tests/fuzz.rs).
export PROPTEST_CASES="${PROPTEST_CASES:-10000}"
export FUZZ_ITERATIONS="${FUZZ_ITERATIONS:-600000}"
if (( $# )); then
    exec cargo test --locked "$@"
fi
# Deployment checks: cfn-lint, sam validate --lint, the arm64 sam build.
scripts/check-deploy.sh
cargo test --workspace --all-targets --locked
