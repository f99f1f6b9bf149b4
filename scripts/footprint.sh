#!/usr/bin/env bash
# Footprint measurements (docs/performance.md): peak RSS, arm64 binary size, start-up time, and
# the ratio of sanitized bytes written to raw bytes received.
#   scripts/footprint.sh [BIN]   BIN: the binary to size for Lambda (default: sanitizer-lambda if
#                                crates/sanitizer-lambda exists, else the CLI)
# Needs: /usr/bin/time, hyperfine (apt-get install hyperfine), cargo-lambda (scripts/setup.sh
# puts it in .venv/bin) with the aarch64-unknown-linux-gnu target. Missing tools are reported, not skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

cli=claude-otel-sanitizer
lambda_bin=${1:-$([[ -d crates/sanitizer-lambda ]] && echo sanitizer-lambda || echo "$cli")}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'footprint-pseudonym-key-0123456789abcdef\n' > "$work/key"

echo "== commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo '+dirty'), $(date -u +%Y-%m-%d), $(uname -m), $(nproc) cores"

echo "== workloads (the benchmark's), then the release build"
SANITIZER_BENCH_WRITE="$work" cargo bench --bench sanitize --locked 2>&1 | grep -E '^/.*json:' || true
# After the bench: the bench profile (unstripped) shares target/release.
cargo build --release --locked --bin "$cli" 2>&1 | tail -1

echo "== peak RSS (sanitize the 1 MB payload, host $(uname -m) release build)"
for w in 1mb 10k; do
    /usr/bin/time -v "target/release/$cli" sanitize --pseudonym-key-file "$work/key" "$work/$w.json" \
        >"$work/$w.out" 2>"$work/$w.time"
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/$w.time")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/$w.time")
    echo "$w.json: $(stat -c %s "$work/$w.json") bytes in, $(wc -l <"$work/$w.out") lines out, peak RSS ${rss} KiB ($((rss / 1024)) MiB), wall $wall"
done

echo "== start-up (process start to exit, hyperfine)"
hyperfine -N --warmup 5 --runs 100 --export-json "$work/startup.json" \
    "target/release/$cli check-allowlist" \
    "target/release/$cli sanitize fixtures/synthetic/control-message.json" >/dev/null
python3 - "$work/startup.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"{r['command'].split('/')[-1]}: mean {r['mean']*1e3:.2f} ms ± {r['stddev']*1e3:.2f}, min {r['min']*1e3:.2f} ms")
PY

echo "== byte ratio over fixtures/recorded (sanitized message bytes / raw message bytes)"
python3 - "target/release/$cli" <<'PY'
import base64, glob, gzip, json, subprocess, sys
raw = out = raw_events = out_events = 0
for shape in ("object", "kvlist"):
    r = o = re_ = oe = 0
    for f in sorted(glob.glob(f"fixtures/recorded/*.{shape}.json")):
        payload = json.loads(gzip.decompress(base64.b64decode(json.load(open(f))["awslogs"]["data"])))
        r += sum(len(e["message"].encode()) for e in payload["logEvents"]); re_ += len(payload["logEvents"])
        lines = subprocess.run([sys.argv[1], "sanitize", f], capture_output=True, check=True,
                               env={"PSEUDONYM_KEY": "footprint-pseudonym-key-0123456789abcdef"}).stdout.splitlines()
        o += sum(len(l) for l in lines); oe += len(lines)
    # CloudWatch counts 26 bytes of overhead per event in a PutLogEvents batch.
    print(f"{shape}: {re_} events, {r:,} bytes received -> {oe} events, {o:,} bytes written: "
          f"ratio {o / r:.4f} ({(o + 26 * oe) / (r + 26 * re_):.4f} with 26 B/event)")
PY

echo "== arm64 release binary size (cargo lambda build --release --arm64 --bin $lambda_bin)"
cargo lambda build --release --arm64 --bin "$lambda_bin" 2>&1 | tail -2
bootstrap="target/lambda/$lambda_bin/bootstrap"
size=$(stat -c %s "$bootstrap")
echo "$bootstrap: $size bytes ($(python3 -c "print(f'{$size/1048576:.2f}')") MiB), zipped $(gzip -9c "$bootstrap" | wc -c) bytes (gzip -9)"
file "$bootstrap" 2>/dev/null || true
