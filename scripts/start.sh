#!/usr/bin/env bash
# Set up .venv (see setup.sh) and start Ophis. The channel server arrives in a later release;
# until then this shows the command line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/ophis --help
