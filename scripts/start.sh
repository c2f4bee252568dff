#!/usr/bin/env bash
# Set up .venv (see setup.sh) and start the Ophis server on its embedded default: SQLite and
# local files under ~/.ophis/server (or $OPHIS_SERVER_DATA). The first start creates an
# administrator and prints the login, a password and the commands to upload and install.
# Extra arguments go to `ophis server start` (e.g. --port 9000 --host 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh server
exec .venv/bin/ophis server start "$@"
