#!/usr/bin/env bash
# The insight layer's benchmark (docs/scale.md, "The insight layer"): `digest --s3` over a generated
# sanitized data lake in a local S3 (moto_server), wall time and peak memory, and the same digest
# from the group's limit for comparison.
#   scripts/bench-lake.sh                 22,000,000 lines: 2,002 developers, two weeks
#   scripts/bench-lake.sh 2200000         fewer lines (the same developers)
# Needs the project's .venv (scripts/setup.sh). The digest runs pinned to one CPU (taskset -c 0),
# as a 1,769 MB function has one vCPU; moto_server serves from the other.
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-22000000}"
export PATH="$PWD/.venv/bin:$PATH"
work="${BENCH_LAKE_DIR:-$(mktemp -d /tmp/bench-lake.XXXX)}"
mkdir -p "$work"
cargo build --release --locked --bin claude-otel-sanitizer >/dev/null
bin="${CARGO_TARGET_DIR:-target}/release/claude-otel-sanitizer"

python3 fixtures/digest/generate.py --scale 182 --out "$work/base.ndjson"
rm -rf "$work/lake"
/usr/bin/time -f "generated in %e s" python3 scripts/lake-corpus.py --corpus "$work/base.ndjson" --lines "$lines" --out "$work/lake"
du -sb "$work/lake" | awk '{print "lake objects:", $1, "bytes (gzip)"}'

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -p "$port" >"$work/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
python3 - "$work/lake" <<'PY'
import boto3, os, sys
s3 = boto3.client("s3")
s3.create_bucket(Bucket="bench-lake")
root = sys.argv[1]
for d, _, files in os.walk(root):
    for f in files:
        path = os.path.join(d, f)
        with open(path, "rb") as body:
            s3.put_object(Bucket="bench-lake", Key=os.path.relpath(path, root), Body=body)
print("uploaded to moto_server")
PY
for run in 1 2; do
    taskset -c 0 /usr/bin/time -f "digest --s3: %e s wall, %U s user, %S s system, %M KB peak RSS" \
        "$bin" digest --s3 s3://bench-lake/sanitized --until 2026-11-30T00:00:00Z --format json \
        -o "$work/lake.json" 2>&1 | tail -2
done
echo "digest from lines (the same lines, decompressed, from a pipe):"
find "$work/lake" -name '*.gz' -print0 | xargs -0 zcat | taskset -c 0 /usr/bin/time -f "digest of lines: %e s wall, %U s user, %M KB peak RSS" \
    "$bin" digest --until 2026-11-30T00:00:00Z --format json -o "$work/lines.json" 2>&1 | tail -2
python3 - "$work/lake.json" "$work/lines.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
same = all(a[k] == b[k] for k in b if k != "input")
print("same figures from the lake and from lines:", same, "| used:", a["input"]["used"], b["input"]["used"])
sys.exit(0 if same else 1)
PY
