#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine (idempotent; quick when already done).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
