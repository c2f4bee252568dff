#!/usr/bin/env bash
# Set up .venv (see setup.sh), then run the linters and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system-deps.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
