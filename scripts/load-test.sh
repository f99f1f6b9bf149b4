#!/usr/bin/env bash
# Load test (issue 14): at least 1,000,000 events of the recorded mix through the handler, as
# Kinesis events, into a counting sink. Prints one `LOAD {...}` JSON line: events per CPU-second
# of the handling thread (one core), decompressed MB per CPU-second, peak RSS while handling.
# docs/scale.md records its figures.
#
#   scripts/load-test.sh                 # 1,000,000 events (LOAD_EVENTS to change)
#   LOAD_EVENTS=5000000 scripts/load-test.sh
#
# Profile: cargo's test profile as configured in Cargo.toml (this crate at opt-level 1, serde_json,
# flate2, sha2 at 3), so that no release or bench build is needed; the release figures of
# docs/performance.md are the upper bound.
set -euo pipefail
cd "$(dirname "$0")/.."
export LOAD_EVENTS="${LOAD_EVENTS:-1000000}"
cargo test --locked --test kinesis_load -- --ignored --nocapture --test-threads 1 2>&1 | grep -oE 'LOAD \{.*|test result.*'
