#!/usr/bin/env bash
# The OTLP endpoint's benchmark (docs/performance.md, "The OTLP endpoint"): CPU per request on the
# recorded bodies (criterion), then the cold start and peak memory of 10 fresh processes.
#   scripts/bench-endpoint.sh            both
# Extra arguments after `--` go to criterion.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${1:-}" == "--" ]] && shift

cargo bench -p sanitizer-otlp-endpoint --bench endpoint --locked -- --warm-up-time 1 --measurement-time 3 "$@"

bin=$(cargo bench -p sanitizer-otlp-endpoint --bench endpoint --no-run --locked --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="endpoint" and m.get("executable"): print(m["executable"])')
bodies=$(mktemp -d)
trap 'rm -rf "$bodies"' EXIT
SANITIZER_BENCH_WRITE="$bodies" "$bin"
runs=$(for _ in $(seq 10); do SANITIZER_BENCH_COLD="$bodies" "$bin"; done)
python3 - "$runs" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in sys.argv[1].splitlines()]
ready = statistics.median(r["ready_us"] for r in runs) / 1000
answered = statistics.median(r["answered_us"] for r in runs) / 1000
peak = max(r["peak_rss_kb"] for r in runs) / 1024
largest = max(r["peak_rss_largest_kb"] for r in runs) / 1024
base = statistics.median(r["baseline_rss_kb"] for r in runs) / 1024
print(f"cold start, median of {len(runs)} processes: ready {ready:.2f} ms, "
      f"first logs and metrics answers {answered:.2f} ms; resident {base:.1f} MiB before the "
      f"start, peak {peak:.1f} MiB, {largest:.1f} MiB after the largest request "
      f"({runs[0]['largest_bytes']:,} bytes of protobuf)")
PY
