#!/usr/bin/env bash
# Whole-process CPU (user + system) of `claude-otel-sanitizer sanitize` against the Python peer
# (benches/python_peer.py) on the same 30,000-event payload of the recorded mix, measured side by
# side in one run (docs/performance.md, "Against the Python peer").
#   scripts/peer-cpu.sh [RUNS]   default 5 runs each; prints each run and the ratio of medians
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
SANITIZER_BENCH_WRITE="$work" cargo bench --bench sanitize --locked 2>&1 | grep -E '30k.json' || true
cargo build --release --locked --bin claude-otel-sanitizer 2>&1 | tail -1
export PSEUDONYM_KEY=peer-cpu-pseudonym-key-0123456789
python3 - "$work/30k.json" "$runs" <<'PY'
import resource, statistics, subprocess, sys
payload, runs = sys.argv[1], int(sys.argv[2])
commands = {
    "rust": ["target/release/claude-otel-sanitizer", "sanitize", payload],
    "python peer": [sys.executable, "benches/python_peer.py", payload],
}
def cpu(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
times = {name: [] for name in commands}
for _ in range(runs):  # interleaved, so both see the same machine
    for name, cmd in commands.items():
        times[name].append(cpu(cmd))
for name, t in times.items():
    print(f"{name:12} CPU s per run: " + ", ".join(f"{x:.3f}" for x in t) + f"  (median {statistics.median(t):.3f})")
print(f"ratio python peer / rust (medians): {statistics.median(times['python peer']) / statistics.median(times['rust']):.1f}x")
PY
