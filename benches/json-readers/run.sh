#!/usr/bin/env bash
# Instruction counts (callgrind) of each JSON reader and inflater tried for the payload, on the
# 1mb workload of benches/sanitize.rs, and simd-json's peak RSS on hostile payloads.
#   benches/json-readers/run.sh      (needs valgrind; docs/performance.md has the figures)
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd ../.. && SANITIZER_BENCH_WRITE="$work" cargo bench --bench sanitize --locked >/dev/null 2>&1)
cargo build --release --locked 2>&1 | tail -1
count() {
    ONLY="$1" valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/json-readers "$work/1mb.json" 2>&1 |
        sed -n 's/.*refs: *//p' | tr -d ,
}
base=$(count none)
for v in "gunzip zlib-rs" "libdeflate" "A serde_json String messages" "BR serde_json RawValue messages" \
    "sonic-rs Cow messages" "sonic LazyValue only" "sonic LazyValue + sonic unescape" \
    "simd-json Cow messages (incl copy)" "M serde_json IgnoredAny" "M serde_json Map<&str, &RawValue> attrs" \
    "M sonic IgnoredAny" "M sonic Map<Cow, LazyValue>" "M simd-json tape (incl copy)" "M jiter skip"; do
    printf '%-42s %12d instructions\n' "$v" $(($(count "$v") - base))
done
for shape in "zeros 32000000" "objs 20000000" "deep 100000"; do
    # shellcheck disable=SC2086
    /usr/bin/time -f "simd-json, hostile $shape: peak RSS %M KiB, exit %x" target/release/hostile $shape 2>&1 | tail -2 | paste -sd ' ' || true
done
