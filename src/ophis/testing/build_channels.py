"""A local channel to build recipes against, offline, for the builder's tests and benchmark.

There is no real Python conda package in the shared test data, so the channel's ``python``
is this interpreter in conda's clothes: ``bin/python`` runs the interpreter this process was
started from (its base installation) with ``argv[0]`` inside the environment, and the
environment's ``pyvenv.cfg`` makes that a virtual environment of it, so that the package's
``lib/pythonX.Y/site-packages`` is the one imported from and nothing else of the machine's
is. Its version is this interpreter's, so noarch python packages land where it looks.
``pip`` is an empty placeholder (conda makes every python depend on pip). ``libdemo`` 1 and
2 carry run_exports, for variant and run_exports tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ophis.core.package_create import create_package
from ophis.indexer.channel_index import index_channel
from ophis.testing.packages import make_index, make_package

PY_SHORT = "{}.{}".format(*sys.version_info[:2])
PY_VERSION = "{}.{}.{}".format(*sys.version_info[:3])


def _wrapper(interpreter: Path) -> bytes:
    # exec -a: Python finds pyvenv.cfg from argv[0], so the environment becomes a venv
    return (
        "#!/bin/bash\n"
        'here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"\n'
        f'exec -a "$here/python" "{interpreter}" "$@"\n'
    ).encode()


def make_python_package(folder: Path, subdir: str = "linux-64") -> Path:
    interpreter = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    wrapper = _wrapper(interpreter)
    cfg = (
        f"home = {interpreter.parent}\ninclude-system-site-packages = false\n"
        f"version = {PY_VERSION}\n"
    )
    index = make_index("python", PY_VERSION, "0_ophis_test", subdir=subdir)
    index.pop("noarch", None)
    return create_package(
        folder / subdir,
        index=index,
        files={
            "pyvenv.cfg": cfg.encode(),
            "bin/python": wrapper,
            "bin/python3": wrapper,
            f"bin/python{PY_SHORT}": wrapper,
            f"lib/python{PY_SHORT}/site-packages/README.ophis": b"site-packages\n",
        },
        run_exports={"weak": [f"python >={PY_SHORT},<{PY_SHORT}.0a0"]},
        fmt=".conda",
    )


def make_build_channel(folder: Path, subdir: str = "linux-64") -> Path:
    """Write and index the channel in ``folder``; returns ``folder``."""
    make_python_package(folder, subdir)
    make_package(folder / "noarch", "pip", "99.0", "0", fmt=".conda")
    for major in ("1", "2"):
        create_package(
            folder / subdir,
            index=make_index("libdemo", f"{major}.0", "0", subdir=subdir),
            files={f"lib/libdemo.{major}.txt": f"libdemo {major}\n".encode()},
            run_exports={"weak": [f"libdemo >={major}.0,<{int(major) + 1}.0a0"]},
        )
    index_channel(folder)
    return folder


# --- recipes the tests and the benchmark build -------------------------------------------------

#: folder name -> {file name: text}
RECIPES: dict[str, dict[str, str]] = {
    # noarch generic, recipe.yaml, files from a source folder, a test script
    "data": {
        "recipe.yaml": """\
context:
  name: ophis-data
package:
  name: ${{ name }}
  version: "1.2"
source:
  path: files
build:
  number: 3
  noarch: generic
  script:
    - mkdir -p $PREFIX/share/ophis-data
    - cp data.txt $PREFIX/share/ophis-data/data.txt
tests:
  - script:
      - grep -q "hello data" $PREFIX/share/ophis-data/data.txt
about:
  summary: Data for Ophis's builder tests
  license: MIT
""",
        "files/data.txt": "hello data\n",
    },
    # noarch python, conda-build's meta.yaml (Jinja2, selectors), an entry point, an import
    # test and a command test
    "greet": {
        "meta.yaml": """\
{% set name = "greet" %}
{% set version = "0.3.1" %}
package:
  name: {{ name }}
  version: {{ version }}

source:
  path: src

build:
  number: 0
  noarch: python
  script:
    - mkdir -p $SP_DIR/greet                  # [unix]
    - cp greet/__init__.py $SP_DIR/greet/     # [unix]
    - copy greet\\__init__.py %SP_DIR%\\greet  # [win]
  entry_points:
    - greet = greet:main

requirements:
  host:
    - python
  run:
    - python

test:
  imports:
    - greet
  commands:
    - greet | grep "hello from greet {{ version }}"

about:
  home: https://example.org/greet
  license: BSD-3-Clause
  summary: Greets
""",
        "src/greet/__init__.py": """\
VERSION = "0.3.1"


def main() -> None:
    print(f"hello from greet {VERSION}")
""",
    },
    # the same noarch python package written as recipe.yaml
    "greet-yaml": {
        "recipe.yaml": """\
context:
  version: "0.4.0"
package:
  name: greet-yaml
  version: ${{ version }}
source:
  path: src
build:
  noarch: python
  script:
    - mkdir -p $SP_DIR/greet_yaml
    - cp greet_yaml/__init__.py $SP_DIR/greet_yaml/
  python:
    entry_points:
      - greet-yaml = greet_yaml:main
requirements:
  host:
    - python
  run:
    - python
tests:
  - python:
      imports:
        - greet_yaml
      pip_check: false
  - script:
      - greet-yaml | grep "hello from greet-yaml"
""",
        "src/greet_yaml/__init__.py": 'def main() -> None:\n    print("hello from greet-yaml")\n',
    },
    # the same noarch generic package written as meta.yaml, with a build.sh
    "data-meta": {
        "meta.yaml": """\
package:
  name: ophis-data-meta
  version: "1.2"
source:
  path: files
build:
  number: 1
  noarch: generic
test:
  commands:
    - grep -q "hello data" $PREFIX/share/ophis-data-meta/data.txt
about:
  summary: Data for Ophis's builder tests
  license: MIT
""",
        "build.sh": (
            "mkdir -p $PREFIX/share/ophis-data-meta\ncp data.txt $PREFIX/share/ophis-data-meta/\n"
        ),
        "files/data.txt": "hello data\n",
    },
    # a variant matrix (libdemo 1 and 2) whose host dependency has run_exports
    "matrix": {
        "recipe.yaml": """\
package:
  name: uses-libdemo
  version: "1.0"
build:
  number: 0
  script:
    - mkdir -p $PREFIX/share/uses-libdemo
    - ls $PREFIX/lib > $PREFIX/share/uses-libdemo/built-against.txt
requirements:
  host:
    - libdemo
  run_exports:
    - ${{ pin_subpackage("uses-libdemo", upper_bound="x") }}
tests:
  - script:
      - test -f $PREFIX/share/uses-libdemo/built-against.txt
""",
        "variants.yaml": 'libdemo:\n  - "1"\n  - "2"\n',
    },
    # its test fails: the package must be kept aside
    "failing": {
        "recipe.yaml": """\
package:
  name: fails-its-test
  version: "1.0"
build:
  noarch: generic
  script:
    - mkdir -p $PREFIX/share
    - echo nothing > $PREFIX/share/fails-its-test.txt
tests:
  - script:
      - test -f $PREFIX/share/not-there.txt
""",
    },
}


def write_recipe(folder: Path, name: str) -> Path:
    """Write the recipe ``name`` of :data:`RECIPES` into ``folder/name``; returns that."""
    root = folder / name
    for relative, text in RECIPES[name].items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
