#!/usr/bin/env bash
# Set up .venv (see setup.sh), then run the linters and the whole test suite, and the server
# tests once more on PostgreSQL and S3-compatible storage (a throwaway PostgreSQL cluster and
# moto's S3 server, started and stopped by the tests). Arguments go to both pytest runs;
# OPHIS_TEST_BACKENDS="sqlite" skips the second. The two passes run at the same time (each
# test mostly waits on a server process, so two passes fill two cores);
# OPHIS_TEST_SEQUENTIAL=1 runs one after the other.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system-deps.sh
.venv/bin/ruff check .

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

run_pass() {
  local backend="$1"
  shift
  if [ "$backend" = sqlite ]; then
    .venv/bin/python -m pytest --basetemp="$scratch/sqlite" --durations=15 "$@"
  else
    # tests/server/storage runs every backend in both passes already; settings use none.
    OPHIS_TEST_BACKEND="$backend" .venv/bin/python -m pytest tests/server \
      --basetemp="$scratch/$backend" \
      --ignore=tests/server/storage --ignore=tests/server/test_settings.py "$@"
  fi
}

status=0
read -r -a backends <<< "${OPHIS_TEST_BACKENDS:-sqlite postgresql-s3}"
if [ "${OPHIS_TEST_SEQUENTIAL:-0}" = 1 ]; then
  for backend in "${backends[@]}"; do
    echo "--- the tests on $backend ---"
    run_pass "$backend" "$@" || status=1
  done
  exit "$status"
fi
# the others in the background, their output shown when they end; the first one live
pids=()
for backend in "${backends[@]:1}"; do
  run_pass "$backend" "$@" > "$scratch/$backend.log" 2>&1 &
  pids+=("$!")
done
echo "--- the tests on ${backends[0]} (${backends[*]:1} running beside it) ---"
run_pass "${backends[0]}" "$@" || status=1
for i in "${!pids[@]}"; do
  backend="${backends[$((i + 1))]}"
  wait "${pids[$i]}" || status=1
  echo "--- the server tests on $backend ---"
  cat "$scratch/$backend.log"
done
exit "$status"
