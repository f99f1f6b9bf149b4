#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine (idempotent; quick when already done).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
# Under pyenv, new console scripts (moto_server, sam, cargo-lambda, cfn-lint) need their shims.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
for tool in moto_server cfn-lint sam cargo-lambda; do
    command -v "$tool" >/dev/null || { echo "setup: $tool is not on PATH after installing requirements-dev.txt" >&2; exit 1; }
done
# Headless Chromium renders the HTML digest in tests/digest_html.rs.
command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
