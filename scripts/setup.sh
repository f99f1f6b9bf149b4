#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine (idempotent; quick when already done).
# - The Python tools of requirements-dev.txt (moto_server, cfn-lint, sam, cargo-lambda) go into the
#   project's virtual environment .venv/, never into the system Python (which PEP 668 may refuse).
#   scripts/test.sh and scripts/check-deploy.sh put .venv/bin first on PATH; by hand:
#   `source .venv/bin/activate`.
# - Headless Chromium (tests/digest_html.rs), and python3-venv where Debian splits it out, are
#   system packages: the one step that needs root. As root or with passwordless sudo (CI) this
#   installs them; otherwise it stops and prints the exact command to run once.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
tools=(moto_server cfn-lint sam cargo-lambda)
# Python modules the tests import with .venv's python3 (tests/lake/named_queries.py): DuckDB, and
# PyYAML (which cfn-lint brings).
modules=(duckdb yaml)

command -v python3 >/dev/null || { echo "setup: python3 is not on PATH; install Python 3 (3.9 or newer)" >&2; exit 1; }

# System packages that are missing (Debian names).
packages=()
# `python3 -m venv` needs ensurepip, which Debian and Ubuntu ship in python3-venv.
if [[ ! -x $venv/bin/python ]] && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    packages+=(python3-venv)
fi
command -v chromium >/dev/null || packages+=(chromium)

if (( ${#packages[@]} )); then
    if (( EUID == 0 )); then
        as_root=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        echo "setup: ${packages[*]} must be installed by root, once. On Debian or Ubuntu:" >&2
        echo "    sudo apt-get install -y ${packages[*]}" >&2
        echo "then run $0 again." >&2
        exit 1
    fi
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi

# A venv whose interpreter is gone (python3 upgraded or removed) is made again.
if ! "$venv/bin/python" -c '' 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv" || { rm -rf "$venv"; echo "setup: python3 -m venv failed (above)" >&2; exit 1; }
fi

# Skipped when this requirements-dev.txt was already installed here and every tool is present.
stamp=$venv/requirements-dev.installed
installed() {
    cmp -s requirements-dev.txt "$stamp" || return 1
    for tool in "${tools[@]}"; do [[ -x $venv/bin/$tool ]] || return 1; done
    for module in "${modules[@]}"; do "$venv/bin/python" -c "import $module" 2>/dev/null || return 1; done
}
if ! installed; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
    for tool in "${tools[@]}"; do
        [[ -x $venv/bin/$tool ]] || { echo "setup: $tool is not in $venv/bin after installing requirements-dev.txt" >&2; exit 1; }
    done
    for module in "${modules[@]}"; do
        "$venv/bin/python" -c "import $module" || { echo "setup: $venv/bin/python cannot import $module after installing requirements-dev.txt" >&2; exit 1; }
    done
    cp requirements-dev.txt "$stamp"
fi

# The real Claude Code client at the pinned version (tests/otlp_endpoint_e2e.rs runs it), from
# the npm registry into .venv/claude-code-<version>/ by fixtures/record/install_client.sh (the
# recorders' install step); a no-op when that version is already there.
command -v npm >/dev/null || { echo "setup: npm is not on PATH; install Node.js with npm (Node 20 or newer)" >&2; exit 1; }
client_version="$(sed -n 's/^PINNED_VERSION=//p' fixtures/record/record.sh)"
if ! log="$(
    VERSION="$client_version"
    CLAUDE_CODE_PREFIX="$PWD/$venv/claude-code-$client_version"
    source fixtures/record/install_client.sh 2>&1
)"; then
    echo "$log" >&2
    echo "setup: installing the Claude Code client $client_version failed (above)" >&2
    exit 1
fi
