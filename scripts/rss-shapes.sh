#!/usr/bin/env bash
# Peak RSS and wall time of `sanitize` and `explain` on the hostile shapes of tests/bounded.rs
# (docs/performance.md, "Bounded work per shape"), for one or more CLI binaries side by side.
#   scripts/rss-shapes.sh [BIN...]   default: target/debug/claude-otel-sanitizer
# Writes the payloads by running tests/bounded.rs first. Needs /usr/bin/time (Debian: time).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked --test bounded -q >/dev/null
dir=target/tmp/bounded
bins=("$@")
[[ ${#bins[@]} -gt 0 ]] || bins=(target/debug/claude-otel-sanitizer)
printf '%-20s %-9s %12s  %-10s %s\n' shape mode "input bytes" "peak KiB" "wall s   binary"
for shape in object kvlist tool_parameters resource allowlisted_prefix; do
    size=$(python3 -c "import base64,gzip,json,sys;print(len(gzip.decompress(base64.b64decode(json.load(open(sys.argv[1]))['awslogs']['data']))))" "$dir/$shape.json")
    for mode in sanitize explain; do
        for bin in "${bins[@]}"; do
            # A 6 GB address-space limit keeps an unbounded build from taking the machine down.
            read -r rss wall < <( (ulimit -v 6000000; PSEUDONYM_KEY=rss-shapes-key-0123456789 \
                /usr/bin/time -f "%M %e" "$bin" "$mode" "$dir/$shape.json" 2>&1 >/dev/null) | tail -1)
            printf '%-20s %-9s %12s  %-10s %-8s %s\n' "$shape" "$mode" "$size" "$rss" "$wall" "$bin"
        done
    done
done
