"""Domain errors: each names what was wrong and what the user can do about it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


class OphisError(Exception):
    """Base of every error a user can meet. Rendered by the CLI and the API.

    ``fields`` are conda's keyword arguments of the same error (``packages``,
    ``channel_urls``, ``location`` ...): ``--json`` output carries them as conda's does."""

    #: conda's exception name, used in ``--json`` output (``exception_name``).
    exception_name = "OphisError"
    #: the process exit code the CLI uses for this error.
    exit_code = 1

    def __init__(self, message: str, remedy: str = "", **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy
        self.fields = fields

    def __str__(self) -> str:
        return f"{self.message}\n{self.remedy}" if self.remedy else self.message

    def to_json(self) -> dict[str, Any]:
        """conda's error document (``CondaError.dump_map``), plus Ophis's ``remedy`` and
        ``success: false`` (as Ophis's other reports say it)."""
        return {
            "caused_by": "None",
            "error": f"{self.exception_name}: {self.message}",
            "exception_name": self.exception_name,
            "exception_type": f"<class 'conda.exceptions.{self.exception_name}'>",
            "message": self.message,
            **self.fields,
            "remedy": self.remedy,
            "success": False,
        }


def dashlist(items: Iterable[object], indent: int = 2) -> str:
    """conda's list layout in messages: each item on its own line as ``  - item``."""
    return "".join(f"\n{' ' * indent}- {item}" for item in items)


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
    """Requested packages, or a dependency of theirs, exist in none of the channels searched
    (conda >= 24 raises its subclass PackagesNotFoundInChannelsError for both)."""

    exception_name = "PackagesNotFoundInChannelsError"

    def __init__(
        self, missing: Sequence[str], channel_urls: Sequence[str], remedy: str = ""
    ) -> None:
        packages, channels = dashlist(missing), dashlist(channel_urls)
        super().__init__(
            "The following packages are not available from current channels:\n"
            f"{packages}\n\nCurrent channels:\n{channels}\n",
            remedy
            or "Search for the package with 'ophis search NAME', or add a channel that has it "
            "with -c CHANNEL.",
            packages=list(missing),
            packages_formatted=packages,
            channel_urls=list(channel_urls),
            channels_formatted=channels,
        )


class ResolvePackageNotFound(PackagesNotFoundError):
    """A dependency of the requested packages exists in no channel (conda's classic solver
    raised ResolvePackageNotFound; conda >= 24 reports it as PackagesNotFoundInChannelsError,
    naming the missing dependency)."""


class PackageNotInstalledError(PackagesNotFoundError):
    """A package named for ``update`` is not in the environment."""

    exception_name = "PackageNotInstalledError"

    def __init__(self, prefix: object, package_name: str, remedy: str = "") -> None:
        OphisError.__init__(  # the fields are the environment's, not channels'
            self,
            f"Package is not installed in prefix.\n  prefix: {prefix}\n"
            f"  package name: {package_name}\n",
            remedy or "Use 'install' to add a package that is not installed.",
            prefix=str(prefix),
            package_name=package_name,
            packages_formatted="",
        )


class PackagesNotFoundInPrefixError(PackageNotInstalledError):
    """Packages named for ``remove`` are not in the environment."""

    exception_name = "PackagesNotFoundInPrefixError"

    def __init__(self, packages: Sequence[str], prefix: object, remedy: str = "") -> None:
        listed = dashlist(packages)
        OphisError.__init__(
            self,
            "The following packages are missing from the target environment:\n"
            f"  prefix: {prefix}{listed}\n",
            remedy or "See what is installed with 'ophis list'.",
            prefix=str(prefix),
            package_name=list(packages),
            packages_formatted=listed,
        )


class SpecsConfigurationConflictError(OphisError):
    """A requested spec contradicts a pinned one (``pinned_packages``, ``conda-meta/pinned``).

    ``pinned_json`` is what ``--json`` lists for the pins when it is not their text: conda
    lists a name-only pin as the installed record it locks (the record's whole dump)."""

    exception_name = "SpecsConfigurationConflictError"

    def __init__(
        self,
        requested: Sequence[str],
        pinned: Sequence[str],
        prefix: object,
        pinned_json: Sequence[Any] | None = None,
    ) -> None:
        super().__init__(
            "Requested specs conflict with configured specs.\n"
            f"  requested specs: {dashlist(requested, 4)}\n"
            f"  pinned specs: {dashlist(pinned, 4)}\n",
            "Ask for a version the pin allows, change the pin (see 'ophis config --show "
            f"pinned_packages' and {prefix}/conda-meta/pinned), or ignore pins with --no-pin.",
            requested_specs=list(requested),
            pinned_specs=list(pinned if pinned_json is None else pinned_json),
            prefix=str(prefix),
        )


class UnsatisfiableError(OphisError):
    """The requested specs conflict with each other or with the environment.

    ``chains`` are conda's structured conflicts (its ``unsatisfiable`` field): for each
    package asked for in incompatible ways, the paths from a requested spec to it."""

    exception_name = "UnsatisfiableError"

    def __init__(
        self, message: str, remedy: str = "", chains: Sequence[Sequence[str]] = ()
    ) -> None:
        super().__init__(message, remedy, unsatisfiable=[list(c) for c in chains])


class EnvironmentLocationNotFound(OphisError):
    exception_name = "EnvironmentLocationNotFound"

    @classmethod
    def at(cls, location: object, remedy: str) -> EnvironmentLocationNotFound:
        """conda's form: the message names the path, the ``location`` field holds it."""
        return cls(f"Not a conda environment: {location}", remedy, location=str(location))


class EnvironmentNameNotFound(OphisError):
    exception_name = "EnvironmentNameNotFound"

    def __init__(self, environment_name: str, remedy: str) -> None:
        super().__init__(
            f"Could not find conda environment: {environment_name}",
            remedy,
            environment_name=environment_name,
        )


class CondaEnvException(OphisError):
    """conda's error for what an environment cannot do (rename, compare, its pip step)."""

    exception_name = "CondaEnvException"


class CondaValueError(OphisError):
    """A bad combination or value of command-line options or configuration."""

    exception_name = "CondaValueError"


class ArgumentError(CondaValueError):
    """Command-line arguments that cannot go together (conda exits with 2 for these)."""

    exception_name = "ArgumentError"
    exit_code = 2


class OperationNotAllowed(OphisError):
    """The configuration forbids what the command asks (``override_channels_enabled``)."""

    exception_name = "OperationNotAllowed"


class NoChannelsConfiguredError(OphisError):
    """Packages were asked for, but no channel is given or configured to look in."""

    exception_name = "NoChannelsConfiguredError"

    def __init__(self, packages: Sequence[str]) -> None:
        named = ", ".join(packages) or "the requested packages"
        super().__init__(
            f"No channels are configured, so there is nowhere to look for {named}.",
            f"Add a channel to the command (ophis install -c CHANNEL {named}), or configure "
            "one with 'ophis config --append channels CHANNEL'.",
            packages=list(packages),
            packages_str=named,
        )


class CondaUpdatePackageError(OphisError):
    """``update`` was given a spec with a version, build or channel: it takes names only."""

    exception_name = "CondaUpdatePackageError"

    def __init__(self, spec: str) -> None:
        super().__init__(
            f"'update' takes package names only, and was given: {spec}",
            "Use 'ophis install SPEC' to install a particular version of a package.",
        )


class ConfigurationError(OphisError):
    """A .condarc file or CONDA_* variable cannot be understood."""

    exception_name = "LoadError"


class TransactionError(OphisError):
    """Linking or unlinking packages failed; the environment was rolled back."""

    exception_name = "CondaTransactionError"


class LinkScriptError(TransactionError):
    """A package's pre-link or post-link script failed."""

    exception_name = "LinkError"
