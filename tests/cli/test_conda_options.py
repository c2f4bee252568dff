"""conda's option spellings that every command takes."""

from __future__ import annotations

import pytest

from ophis.testing.cli import ophis


@pytest.mark.parametrize("verb", [(), ("create",), ("env", "list"), ("config",), ("list",)])
def test_h_is_help_everywhere(home: dict[str, str], verb: tuple[str, ...]) -> None:
    result = ophis(home, *verb, "-h")
    assert result.returncode == 0, result.stderr
    assert f"ophis {' '.join(verb)} [OPTIONS]".replace("  ", " ") in " ".join(result.stdout.split())
