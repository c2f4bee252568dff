"""Domain errors: each names what was wrong and what the user can do about it."""

from __future__ import annotations


class OphisError(Exception):
    """Base of every error a user can meet. Rendered by the CLI and the API."""

    #: conda's exception name, used in ``--json`` output (``exception_name``).
    exception_name = "OphisError"
    #: the process exit code the CLI uses for this error.
    exit_code = 1

    def __init__(self, message: str, remedy: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy

    def __str__(self) -> str:
        return f"{self.message}\n{self.remedy}" if self.remedy else self.message

    def to_json(self) -> dict[str, object]:
        return {
            "success": False,
            "exception_name": self.exception_name,
            "error": str(self),
            "message": self.message,
            "remedy": self.remedy,
        }


class InvalidPackageError(OphisError):
    """A package archive is corrupt, truncated, hostile or lies about itself."""

    exception_name = "InvalidArchiveError"

    def __init__(self, filename: str, rule: str, remedy: str = "") -> None:
        super().__init__(
            f"{filename}: {rule}",
            remedy or "The package was rejected; rebuild it or fetch an intact copy.",
        )
        self.filename = filename
        self.rule = rule


class ChannelError(OphisError):
    """A channel name, URL or path cannot be understood."""

    exception_name = "ChannelError"


class InvalidPlatformError(OphisError):
    """A subdir / platform string is not one conda knows."""

    exception_name = "InvalidPlatformError"


class ChannelIndexError(OphisError):
    """Indexing a channel directory failed as a whole (not one bad package)."""

    exception_name = "ChannelIndexError"
