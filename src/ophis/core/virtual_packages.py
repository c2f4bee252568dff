"""Virtual packages (``__glibc``, ``__cuda``, ...) for a target subdir, as conda computes them.

conda's rules (``conda/plugins/virtual_packages/*.py`` and ``CondaVirtualPackage.
to_virtual_package`` in ``conda/plugins/types.py``), which :func:`detect_virtual_packages`
follows:

* The target subdir decides which packages exist, not the host: ``linux-*`` gets ``__unix``,
  ``__linux`` and ``__glibc``; ``osx-*`` gets ``__unix`` and ``__osx``; ``freebsd-*`` gets
  ``__unix``; ``win-*`` gets ``__win``; ``emscripten-*``, ``wasi-*`` and ``zos-*`` get none of
  them. ``__archspec`` and ``__cuda`` do not depend on the OS.
* A version or build that was not detected is ``0``. Computing for another OS than the host's
  (``CONDA_SUBDIR=osx-arm64`` on Linux) therefore gives ``__osx=0``, ``__win=0``,
  ``__linux=0`` and ``__glibc=0``: conda invents no default such as 11.0 or 2.17; set the
  ``CONDA_OVERRIDE_*`` variable to solve for a real minimum.
* ``CONDA_OVERRIDE_<NAME>`` (then ``override_virtual_packages`` from ``.condarc``) replaces the
  detected version (build for ``__archspec``). The value is stripped; a set-but-empty value
  removes the package, except ``__linux``, which then falls back to ``0``.
  ``__unix`` and ``__conda`` cannot be overridden.
* ``__linux`` keeps the leading ``N.N[.N[.N]]`` of the kernel release (or the override);
  anything else becomes ``0``.
* ``__archspec`` is ``1=<microarchitecture>`` when the target is the native subdir, otherwise
  ``1=<machine of the target>`` (``x86_64``, ``x86``, ``aarch64``, ``arm64``, ...); it is left
  out when the target arch has no machine name (``wasm32``, ``z``).
* ``__cuda`` is present only when a driver was detected or ``CONDA_OVERRIDE_CUDA`` is non-empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ophis.core.errors import InvalidPlatformError, OphisError
from ophis.core.lazy import LazyModule
from ophis.core.platform import (
    MachineFacts,
    detect_machine_facts,
    native_subdir,
    parse_subdir,
    platform_os,
    subdir_machine,
)

if TYPE_CHECKING:
    import rattler
else:  # py-rattler is imported when first used
    rattler = LazyModule("rattler")

__all__ = [
    "VirtualPackageSpec",
    "detect_machine_facts",
    "detect_virtual_packages",
    "to_rattler",
]

_LINUX_VERSION = re.compile(r"\d+\.\d+(\.\d+)?(\.\d+)?")
_UNIX_OSES = frozenset({"linux", "osx", "freebsd"})


class _Absent:
    """conda's ``NULL``: the package is not exported (distinct from "unknown", ``None``)."""


ABSENT = _Absent()
_Value = str | None | _Absent


@dataclass(frozen=True)
class VirtualPackageSpec:
    """One virtual package as the solver sees it."""

    name: str
    version: str
    build: str = "0"

    def __str__(self) -> str:
        return f"{self.name}={self.version}={self.build}"

    def to_rattler(self) -> rattler.GenericVirtualPackage:
        try:
            version = rattler.Version(self.version)
        except Exception as exc:  # rattler's InvalidVersionError
            variable = f"CONDA_OVERRIDE_{self.name.removeprefix('__').upper()}"
            raise OphisError(
                f"virtual package {self.name} has version {self.version!r}, "
                f"which is not a conda version ({exc})",
                f"Set {variable} to a version such as 2.17, or unset it.",
            ) from exc
        return rattler.GenericVirtualPackage(
            rattler.PackageName(self.name), version, rattler.BuildString(self.build)
        )


@dataclass(frozen=True)
class _Rule:
    """A virtual package before overrides, mirroring conda's ``CondaVirtualPackage``."""

    name: str
    version: _Value
    build: _Value = None
    override: str | None = None  # "version" | "build" | None (not overridable)
    empty_override: _Value = ABSENT
    validate: Callable[[str], str | None] | None = None


def _override_value(
    name: str, env: Mapping[str, str], config: Mapping[str, str | None]
) -> str | None:
    value = env.get(f"CONDA_OVERRIDE_{name.upper()}")
    if value is None:
        value = config.get(name)
    return value


def _apply(
    rule: _Rule, env: Mapping[str, str], config: Mapping[str, str | None]
) -> VirtualPackageSpec | None:
    version, build = rule.version, rule.build
    if rule.override:
        value = _override_value(rule.name, env, config)
        if value is not None:
            replaced: _Value = value.strip() or rule.empty_override
            if rule.override == "version":
                version = replaced
            else:
                build = replaced
    if isinstance(version, _Absent) or isinstance(build, _Absent):
        return None
    if rule.validate is not None and version is not None:
        version = rule.validate(version)
    return VirtualPackageSpec(f"__{rule.name}", version or "0", build or "0")


def _linux_version(release: str) -> str | None:
    match = _LINUX_VERSION.match(release)
    return match.group() if match else None


def _host_value(host_os: str, target_os: str, value: str | None) -> str | None:
    # A host's OS version only describes a target of the same OS.
    return value if host_os == target_os else None


def _os_rules(target_os: str, facts: MachineFacts) -> list[_Rule]:
    host_os = facts.os or ""
    rules: list[_Rule] = []
    if target_os in _UNIX_OSES:
        rules.append(_Rule("unix", None))
    if target_os == "linux":
        kernel = _host_value(host_os, "linux", facts.kernel_release)
        rules.append(
            _Rule("linux", kernel, override="version", empty_override=None, validate=_linux_version)
        )
        family = facts.libc_family if host_os == "linux" and facts.libc_version else "glibc"
        libc = _host_value(host_os, "linux", facts.libc_version)
        rules.append(_Rule(family or "glibc", libc, override="version"))  # glibc when unknown
    elif target_os == "osx":
        rules.append(_Rule("osx", _host_value(host_os, "osx", facts.osx_version), None, "version"))
    elif target_os == "win":
        version = _host_value(host_os, "win", facts.windows_version)
        rules.append(_Rule("win", version, None, "version"))
    return rules


def _archspec_rule(subdir: str, facts: MachineFacts) -> _Rule:
    machine = subdir_machine(subdir)
    if machine is None:
        build: _Value = ABSENT
    elif _is_native(subdir, facts):
        build = facts.microarchitecture or machine
    else:
        build = machine
    return _Rule("archspec", "1", build, override="build")


def _is_native(subdir: str, facts: MachineFacts) -> bool:
    try:
        return native_subdir(facts) == subdir
    except InvalidPlatformError:  # an unnamed host OS is never the native one
        return False


def detect_virtual_packages(
    subdir: str,
    facts: MachineFacts,
    env: Mapping[str, str],
    *,
    config_overrides: Mapping[str, str | None] | None = None,
    conda_version: str | None = None,
) -> list[VirtualPackageSpec]:
    """The virtual packages conda would offer the solver for ``subdir``.

    ``facts`` describe the host (see :func:`detect_machine_facts`); ``env`` supplies the
    ``CONDA_OVERRIDE_*`` variables; ``config_overrides`` is ``.condarc``'s
    ``override_virtual_packages`` (name without underscores → value), used when the
    variable is unset. ``conda_version``, when given, adds conda's ``__conda``.
    Returned sorted by name.
    """
    target = parse_subdir(subdir)
    config = config_overrides or {}
    rules = _os_rules(platform_os(target), facts)
    if target != "noarch":
        rules.append(_archspec_rule(target, facts))
    rules.append(_Rule("cuda", facts.cuda_version or ABSENT, None, "version"))
    if conda_version:
        rules.append(_Rule("conda", conda_version))
    found = (_apply(rule, env, config) for rule in rules)
    return sorted((spec for spec in found if spec is not None), key=lambda spec: spec.name)


def to_rattler(
    virtual_packages: Iterable[VirtualPackageSpec],
) -> list[rattler.GenericVirtualPackage]:
    """The packages as py-rattler objects, for ``rattler.solve(virtual_packages=...)``."""
    return [package.to_rattler() for package in virtual_packages]
