#!/usr/bin/env bash
# The project's test command (the README's, and what CI runs): set-up, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PROPTEST_CASES="${PROPTEST_CASES:-10000}"
cargo test --all-targets --locked
