"""Version strings as they enter the system: a release's version must be a conda version
(conda's grammar, through py-rattler), and a Python distribution's a PEP 440 one. Anything
else (markup, control or bidirectional characters, whitespace) is refused, naming the field."""

from __future__ import annotations

import re

from packaging.version import InvalidVersion
from packaging.version import Version as PythonVersion
from rattler import Version as CondaVersion
from rattler.exceptions import InvalidVersionError as RattlerInvalidVersion

from ophis.core.errors import OphisError

#: conda's characters (ASCII letters and digits, ``._+!-``); the grammar is checked after
_CHARACTERS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!-]{0,199}$")


class InvalidVersionError(OphisError):
    exception_name = "InvalidVersionSpec"


def check_conda_version(version: str, field: str = "version") -> str:
    """``version`` when it is a valid conda version, else InvalidVersionError."""
    valid = _CHARACTERS.match(version) is not None
    if valid:
        try:
            CondaVersion(version)
        except RattlerInvalidVersion:
            valid = False
    if not valid:
        raise InvalidVersionError(
            f"{field} {version!a} is not a valid conda version.",
            "Use letters, digits and '.', '_', '+', '!', '-' as conda versions do"
            " (such as 1.2.0, 2024.1, 1.0rc1), at most 200 characters.",
        )
    return version


def check_python_version(version: str, field: str = "version") -> str:
    """``version`` when it is a valid PEP 440 version, else InvalidVersionError."""
    try:
        valid = _CHARACTERS.match(version) is not None and bool(PythonVersion(version))
    except InvalidVersion:
        valid = False
    if not valid:
        raise InvalidVersionError(
            f"{field} {version!a} is not a valid Python package version (PEP 440).",
            "Use a version such as 1.2.0, 1.0rc1 or 2.0.post1.",
        )
    return version
