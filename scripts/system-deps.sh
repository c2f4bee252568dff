#!/usr/bin/env bash
# Debian packages the tests drive for real: the shells the activation tests run (bash is in
# every Debian image). Installed when missing and when we may (root with apt-get); otherwise
# the tests that need them are skipped with the package's name.
set -euo pipefail
wanted=(zsh fish)
missing=()
for program in "${wanted[@]}"; do
  command -v "$program" >/dev/null 2>&1 || missing+=("$program")
done
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages for the tests: ${missing[*]}" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
