"""A module imported when first used, for the commands that never use it.

py-rattler takes 0.07 s to import; ``ophis info``, ``env list`` and the shell's calls read
modules that name it without calling it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module ``name``: the first attribute read imports it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        module: ModuleType = importlib.import_module(self._name)
        value = getattr(module, attribute)
        setattr(self, attribute, value)  # later reads find it here, without __getattr__
        return value
