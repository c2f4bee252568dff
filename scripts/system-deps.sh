#!/usr/bin/env bash
# Debian packages the tests drive for real: the shells the activation tests run (bash is in
# every Debian image) and the chromium the web site's browser test drives through Playwright.
# Installed when missing and when we may (root with apt-get); otherwise the shell tests are
# skipped with the package's name, and the browser test fails saying what to install.
set -euo pipefail
wanted=(zsh fish chromium)
missing=()
for program in "${wanted[@]}"; do
  command -v "$program" >/dev/null 2>&1 || missing+=("$program")
done
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages for the tests: ${missing[*]}" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
