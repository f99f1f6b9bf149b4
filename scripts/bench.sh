#!/usr/bin/env bash
# The benchmark suite (docs/performance.md): the full path against the decode floor.
#   scripts/bench.sh              criterion, short runs; prints events/s, MB/s and the ratio
#   scripts/bench.sh --callgrind  instruction counts of one run of each path (repeatable on a
#                                 busy machine; needs valgrind)
# Extra arguments after `--` go to criterion (e.g. `-- --measurement-time 10`).
set -euo pipefail
cd "$(dirname "$0")/.."

mode="criterion"
if [[ "${1:-}" == "--callgrind" ]]; then mode="callgrind"; shift; fi
[[ "${1:-}" == "--" ]] && shift

if [[ "$mode" == "callgrind" ]]; then
    cargo bench --bench sanitize --no-run --locked 2>/dev/null
    bin=$(cargo bench --bench sanitize --no-run --locked --message-format=json 2>/dev/null \
        | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="sanitize" and m.get("executable"): print(m["executable"])')
    out=$(mktemp -d)
    for workload in 1mb 10k; do
        for path in full floor; do
            SANITIZER_BENCH_ONCE=$path SANITIZER_BENCH_WORKLOAD=$workload \
                valgrind --tool=callgrind --callgrind-out-file="$out/$workload.$path" \
                --collect-atstart=no --toggle-collect="*sanitize::$path*" "$bin" 2>"$out/$workload.$path.log"
            grep -h "^summary:" "$out/$workload.$path" | awk -v w="$workload" -v p="$path" '{print w, p, $2}'
        done
    done | python3 -c 'import sys
r={}
for l in sys.stdin:
    w,p,n=l.split(); r.setdefault(w,{})[p]=int(n)
for w,v in r.items():
    f, b = v["full"], v["floor"]
    print(f"{w}: full {f:,} instructions, floor {b:,}, ratio {f / b:.3f}")'
    echo "callgrind files in $out (callgrind_annotate $out/1mb.full)"
    exit 0
fi

cargo bench --bench sanitize --locked -- --warm-up-time 1 --measurement-time 3 "$@" 2>&1 | tee /tmp/bench.$$.log
python3 - /tmp/bench.$$.log <<'PY'
import json, re, sys, pathlib
log = open(sys.argv[1]).read()
sizes = {m[0]: (int(m[1]), int(m[2])) for m in re.findall(r"workload (\S+): (\d+) events, envelope \d+ bytes, decompressed (\d+) bytes", log)}
root = pathlib.Path("target/criterion")
print("\nworkload  path   events/s    MB/s (decompressed)   mean time")
for name, (events, size) in sizes.items():
    t = {}
    for path in ("full", "floor"):
        est = json.loads((root / name / path / str(events) / "new" / "estimates.json").read_text())
        t[path] = est["mean"]["point_estimate"] / 1e9
        print(f"{name:8}  {path:5}  {events / t[path]:10,.0f}  {size / t[path] / 1e6:10.1f}            {t[path] * 1e3:8.2f} ms")
    print(f"{name:8}  ratio full/floor = {t['full'] / t['floor']:.3f}")
PY
rm -f /tmp/bench.$$.log
