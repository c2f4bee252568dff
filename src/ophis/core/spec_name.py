"""The package name a spec string is about, without parsing the rest of it.

History files and dependency lists hold specs from every era of conda, some of which no
strict parser accepts; their name is all that reading them needs.
"""

from __future__ import annotations

import re

_SPEC_NAME = re.compile(r"^\s*([^\s=<>!~\[\]@#,;()|]+)")


def spec_name(spec: str) -> str:
    """``conda-forge::numpy>=1`` → ``numpy``; ``python 3.11.*`` → ``python`` (lower case)."""
    spec = spec.strip()
    if "::" in spec:
        spec = spec.split("::", 1)[1]
    match = _SPEC_NAME.match(spec)
    return match.group(1).lower() if match else spec.lower()
