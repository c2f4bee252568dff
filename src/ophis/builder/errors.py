"""The errors a recipe author meets: each says what is wrong, where, and what to do."""

from __future__ import annotations

from ophis.core.errors import OphisError


class BuildError(OphisError):
    """A recipe could not be read, rendered, built or tested."""

    exception_name = "BuildError"


class RecipeError(BuildError):
    """A recipe is malformed, unsupported or hostile; ``line`` is where, when known."""

    exception_name = "RecipeError"

    def __init__(self, message: str, remedy: str = "", *, line: int | None = None) -> None:
        super().__init__(message, remedy)
        self.line = line
