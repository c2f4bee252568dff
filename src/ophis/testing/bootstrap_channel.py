"""An offline channel that can install Ophis itself, for the installer's tests: this
interpreter as ``python`` (:mod:`ophis.testing.build_channels`), the distributions Ophis's
package manager imports, wrapped from this virtual environment as conda packages (as
:mod:`ophis.testing.venv_packages` does), and ``ophis`` built from this source tree with
the builder.
"""

from __future__ import annotations

import sys

from ophis.testing.venv_packages import conda_name

#: what ``ophis create`` and ``ophis shell`` import (their closure comes with them)
OPHIS_DISTRIBUTIONS = (
    "py-rattler",
    "typer",
    "rich",
    "httpx",
    "conda-package-streaming",
    "zstandard",
    "orjson",
    "msgpack",
    "ruamel.yaml",
    "cryptography",
    "platformdirs",
    *(("backports.zstd",) if sys.version_info < (3, 14) else ()),
)


def ophis_run_requirements() -> list[str]:
    """The recipe's run requirements in the names the wrapped packages have."""
    return [conda_name(name) for name in OPHIS_DISTRIBUTIONS]
