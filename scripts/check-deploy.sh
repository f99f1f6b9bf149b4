#!/usr/bin/env bash
# Deployment checks (issue 4), offline: cfn-lint, `sam validate --lint`, and the arm64 `sam build`
# that `sam deploy` uploads. Needs the Python tools of requirements-dev.txt in .venv (scripts/setup.sh).
# Prints each step's time; the build dominates (a cold release build with LTO on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
# The Python tools come from the project's virtual environment (scripts/setup.sh).
export PATH="$PWD/.venv/bin:$PATH"

# SAM CLI reads a region even offline, and must not try to send telemetry.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export SAM_CLI_TELEMETRY=0

step() {
    local name="$1"; shift
    local start=$SECONDS
    echo "== $name"
    "$@"
    echo "== $name: ok in $((SECONDS - start)) s"
}

arm64_elf() {
    # e_machine (bytes 18-19 of an ELF header) is 0xB7 for AArch64.
    python3 - "$1" <<'PY'
import sys
with open(sys.argv[1], "rb") as f:
    head = f.read(20)
if head[:4] != b"\x7fELF" or int.from_bytes(head[18:20], "little") != 0xB7:
    sys.exit(f"{sys.argv[1]} is not an AArch64 ELF executable")
PY
}

# The deployed bootstrap's size budget (docs/performance.md): a dependency or profile change that
# grows it past this fails here, not in someone's account.
MAX_BOOTSTRAP_BYTES=8000000
under_size_budget() {
    local size
    size=$(stat -c %s "$1")
    echo "$1: $size bytes (budget $MAX_BOOTSTRAP_BYTES)"
    if (( size > MAX_BOOTSTRAP_BYTES )); then
        echo "$1 is over the size budget: see docs/performance.md (arm64 binary size)" >&2
        return 1
    fi
}

# template.yaml in each IngestionMode (raw, endpoint, both). cfn-lint checks every combination of
# the template's conditions on its own (a reference to a resource that one mode does not create
# fails it); --parameters adds the checks of values resolved for the mode. sam validate takes no
# parameters: it validates a copy whose IngestionMode default is the mode.
modes_dir=$(mktemp -d)
trap 'rm -rf "$modes_dir"' EXIT
with_mode() {
    local mode="$1" out="$modes_dir/template-$1.yaml"
    python3 - "$mode" "$out" <<'PY'
import re, sys
mode, out = sys.argv[1], sys.argv[2]
text = open("template.yaml").read()
new, n = re.subn(r"(\n  IngestionMode:\n    Type: String\n    Default: )\w+", r"\g<1>" + mode, text)
if n != 1:
    sys.exit("template.yaml: no IngestionMode parameter with a default to set")
open(out, "w").write(new)
PY
    echo "$out"
}
for mode in raw endpoint both; do
    step "cfn-lint IngestionMode=$mode (all checks, informational included)" \
        cfn-lint --include-checks I --parameters "IngestionMode=$mode" -- template.yaml
    step "sam validate --lint IngestionMode=$mode" sam validate --lint -t "$(with_mode "$mode")"
done
# The organisation templates (deploy/README.md); their function is the same binary as above.
for t in deploy/central.yaml deploy/member.yaml; do
    step "cfn-lint $t" cfn-lint --include-checks I -- "$t"
    step "sam validate --lint -t $t" sam validate --lint -t "$t"
done
step "deploy/central.yaml carries template.yaml's dashboard" python3 deploy/sync-from-template.py --check
# cargo lambda cross-compiles with zig (from PyPI), but needs the target's standard library.
step "rustup target add aarch64-unknown-linux-gnu" rustup target add aarch64-unknown-linux-gnu
# One build of every function (the sanitizer, the OTLP endpoint and the digest: SAM builds each
# function whatever its condition), one after the other into the workspace's one target
# directory, so the second and third reuse the dependencies the first compiled. Measured from
# cold on the 2-core VM while other builds ran (2026-12-04, load 3.7): the sanitizer 356 s, the
# endpoint 115 s more, the digest 130 s more; 622 s in all (about 507 s before the endpoint).
step "sam build (cargo lambda build --release --arm64, per function)" sam build
for function in SanitizerFunction EndpointFunction; do
    step "$function: built bootstrap is an AArch64 executable" arm64_elf ".aws-sam/build/$function/bootstrap"
    step "$function: built bootstrap is within the size budget" under_size_budget ".aws-sam/build/$function/bootstrap"
done
