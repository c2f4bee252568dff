#!/usr/bin/env bash
# Debian packages the tests drive for real: the shells the activation tests run (bash is in
# every Debian image), the chromium the web site's browser test drives through Playwright,
# and the PostgreSQL server the server tests run a throwaway cluster of (its binaries only:
# the tests start and stop their own cluster). Installed when missing and when we may (root
# with apt-get); otherwise the tests that need one fail saying what to install.
set -euo pipefail
declare -A package_of=([zsh]=zsh [fish]=fish [chromium]=chromium)
missing=()
for program in zsh fish chromium; do
  command -v "$program" >/dev/null 2>&1 || missing+=("${package_of[$program]}")
done
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages for the tests: ${missing[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  # Debian starts a default cluster on install; the tests use their own.
  if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters -h | while read -r version name _; do
      pg_ctlcluster "$version" "$name" stop 2>/dev/null || true
    done
  fi
fi
