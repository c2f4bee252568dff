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


# --- the package manager's errors, named as conda names them (``exception_name``) ---------


class InvalidMatchSpecError(OphisError):
    """A package spec the user typed cannot be parsed."""

    exception_name = "InvalidMatchSpec"


class PackagesNotFoundError(OphisError):
    """Requested packages exist in none of the channels searched."""

    exception_name = "PackagesNotFoundError"

    def __init__(self, missing: list[str], channels: list[str], remedy: str = "") -> None:
        listed = "\n".join(f"  - {spec}" for spec in missing)
        searched = "\n".join(f"  - {url}" for url in channels)
        super().__init__(
            "The following packages are not available from current channels:\n\n"
            f"{listed}\n\nCurrent channels:\n\n{searched}",
            remedy
            or "Search for the package with 'ophis search NAME', or add a channel that has it "
            "with -c CHANNEL.",
        )
        self.missing = missing
        self.channels = channels


class ResolvePackageNotFound(OphisError):
    """A dependency of a requested package exists in no channel."""

    exception_name = "ResolvePackageNotFound"


class UnsatisfiableError(OphisError):
    """The requested specs conflict with each other or with the environment."""

    exception_name = "UnsatisfiableError"


class EnvironmentLocationNotFound(OphisError):
    exception_name = "EnvironmentLocationNotFound"


class PackageNotInstalledError(OphisError):
    exception_name = "PackageNotInstalledError"


class CondaValueError(OphisError):
    """A bad combination or value of command-line options or configuration."""

    exception_name = "CondaValueError"


class ConfigurationError(OphisError):
    """A .condarc file or CONDA_* variable cannot be understood."""

    exception_name = "LoadError"


class TransactionError(OphisError):
    """Linking or unlinking packages failed; the environment was rolled back."""

    exception_name = "CondaTransactionError"


class LinkScriptError(TransactionError):
    """A package's pre-link or post-link script failed."""

    exception_name = "LinkError"
