#!/usr/bin/env bash
# Set up .venv (see setup.sh), then run the linters and the whole test suite, then the
# server tests once more on PostgreSQL and S3-compatible storage (a throwaway PostgreSQL
# cluster and moto's S3 server, started and stopped by the tests). Arguments go to both
# pytest runs; OPHIS_TEST_BACKENDS="sqlite" skips the second.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system-deps.sh
.venv/bin/ruff check .
for backend in ${OPHIS_TEST_BACKENDS:-sqlite postgresql-s3}; do
  if [ "$backend" = sqlite ]; then
    .venv/bin/python -m pytest "$@"
  else
    echo "--- the server tests on $backend ---"
    # tests/server/storage runs every backend in both passes already; settings use none.
    OPHIS_TEST_BACKEND="$backend" .venv/bin/python -m pytest tests/server \
      --ignore=tests/server/storage --ignore=tests/server/test_settings.py "$@"
  fi
done
