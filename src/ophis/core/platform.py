"""Platforms (conda "subdirs") and the machine facts they are derived from.

A subdir names the operating system and architecture a package was built for:
``linux-64``, ``osx-arm64``, ``noarch``. Everything here is pure except
:func:`detect_machine_facts`, which reads the running machine once so that the
rest can be tested with any facts.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform as _stdlib_platform
import re
import struct
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ophis.core.atomic_file import write_atomic
from ophis.core.errors import InvalidPlatformError

#: conda's ``KNOWN_SUBDIRS`` (conda/base/constants.py): ``noarch`` plus its ``PLATFORMS``.
KNOWN_SUBDIRS: tuple[str, ...] = (
    "noarch",
    "emscripten-wasm32",
    "wasi-wasm32",
    "freebsd-64",
    "linux-32",
    "linux-64",
    "linux-aarch64",
    "linux-armv6l",
    "linux-armv7l",
    "linux-ppc64",
    "linux-ppc64le",
    "linux-riscv64",
    "linux-s390x",
    "osx-64",
    "osx-arm64",
    "win-32",
    "win-64",
    "win-arm64",
    "zos-z",
)

#: The operating-system part of a subdir, as conda spells it.
KNOWN_OSES: tuple[str, ...] = ("linux", "osx", "win", "freebsd", "emscripten", "wasi", "zos")

#: conda's ``_platform_map`` from ``sys.platform`` to the subdir's OS part.
_SYS_PLATFORM_OS: Mapping[str, str] = {
    "linux": "linux",
    "linux2": "linux",
    "darwin": "osx",
    "win32": "win",
    "zos": "zos",
    "emscripten": "emscripten",
    "wasi": "wasi",
}

#: conda's ``non_x86_machines``: machines that name the subdir's arch themselves.
NON_X86_MACHINES: frozenset[str] = frozenset(
    {"armv6l", "armv7l", "aarch64", "arm64", "ppc64", "ppc64le", "riscv64", "s390x"}
)
#: conda's ``_arch_names``: pointer size to the x86 arch name.
_X86_ARCH_NAMES: Mapping[int, str] = {32: "x86", 64: "x86_64"}
_WASM_ARCH: Mapping[str, str] = {"emscripten": "wasm32", "wasi": "wasm32"}
_ARCH_RE = re.compile(r"^[a-z0-9_]+$")
_UNIX_OSES = frozenset({"linux", "osx", "freebsd"})


@dataclass(frozen=True)
class MachineFacts:
    """What was detected on a machine; every field may be unknown (``None``)."""

    #: ``sys.platform`` ("linux", "darwin", "win32", "freebsd14", ...).
    sys_platform: str
    #: ``platform.machine()`` ("x86_64", "AMD64", "arm64", "aarch64", ...).
    machine: str
    #: pointer size in bits (32 or 64).
    bits: int = 64
    #: ``platform.release()`` on Linux: the kernel release ("6.8.0-45-generic").
    kernel_release: str | None = None
    #: C library family and version from ``CS_GNU_LIBC_VERSION`` ("glibc", "2.36").
    libc_family: str | None = None
    libc_version: str | None = None
    #: macOS product version ("14.5") on macOS.
    osx_version: str | None = None
    #: ``platform.version()`` on Windows ("10.0.22631").
    windows_version: str | None = None
    #: CPU microarchitecture name in archspec's vocabulary ("zen2", "skylake", "m1").
    microarchitecture: str | None = None
    #: CUDA version the installed driver supports ("12.4"), ``None`` without a driver.
    cuda_version: str | None = None

    @property
    def os(self) -> str | None:
        """The subdir OS part of this machine, or None when conda has no name for it."""
        if self.sys_platform.startswith("freebsd"):
            return "freebsd"
        return _SYS_PLATFORM_OS.get(self.sys_platform)


def _known_subdirs_message() -> str:
    return ", ".join(KNOWN_SUBDIRS)


def _invalid(subdir: str, why: str) -> InvalidPlatformError:
    return InvalidPlatformError(
        f"{subdir!r} is not a conda platform; {why}",
        f"Use one of {_known_subdirs_message()}, or '<os>-<arch>' with os one of "
        f"{', '.join(KNOWN_OSES)}.",
    )


def rattler_knows(subdir: str) -> bool:
    """Whether py-rattler names this platform (conda's test platforms, e.g. linux-fake,
    are conda's only: rattler's solver sources and linking refuse them)."""
    import rattler  # here, not at the top: activation and configuration never need it

    try:
        rattler.Subdir(subdir)
    except Exception:  # rattler raises its own parse error type for unknown names
        return False
    return True


def parse_subdir(value: str) -> str:
    """Validate a subdir and return it.

    Accepts conda's known subdirs, any subdir py-rattler knows, and
    ``<os>-<arch>`` for a known OS with any lowercase arch (conda's test suites
    use fake subdirs such as ``linux-fake`` that rattler refuses).
    """
    subdir = value.strip()
    if subdir in KNOWN_SUBDIRS or rattler_knows(subdir):
        return subdir
    os_part, sep, arch = subdir.partition("-")
    if not sep or not arch:
        raise _invalid(value, "a platform looks like '<os>-<arch>', e.g. 'linux-64'")
    if os_part not in KNOWN_OSES:
        raise _invalid(value, f"unknown operating system {os_part!r}")
    if not _ARCH_RE.match(arch):
        raise _invalid(value, f"the architecture {arch!r} has characters conda does not use")
    return subdir


def platform_os(subdir: str) -> str:
    """The OS part of a subdir: ``linux-64`` → ``linux``; ``noarch`` → ``noarch``."""
    return parse_subdir(subdir).partition("-")[0]


def platform_arch(subdir: str) -> str | None:
    """The arch part of a subdir: ``linux-64`` → ``64``; ``noarch`` → None."""
    _, _, arch = parse_subdir(subdir).partition("-")
    return arch or None


def is_unix(subdir: str) -> bool:
    """Whether conda treats the subdir as Unix (it exports ``__unix`` for it)."""
    return platform_os(subdir) in _UNIX_OSES


def is_windows(subdir: str) -> bool:
    return platform_os(subdir) == "win"


def subdirs_for(subdir: str) -> tuple[str, ...]:
    """The subdirs a solve for ``subdir`` reads: the subdir itself and ``noarch``."""
    parsed = parse_subdir(subdir)
    return ("noarch",) if parsed == "noarch" else (parsed, "noarch")


def native_subdir(facts: MachineFacts) -> str:
    """The subdir of the machine described by ``facts`` (conda's ``_native_subdir``)."""
    os_name = facts.os
    if os_name is None:
        raise InvalidPlatformError(
            f"conda has no platform name for sys.platform {facts.sys_platform!r}",
            "Set CONDA_SUBDIR to the platform you want packages for, e.g. CONDA_SUBDIR=linux-64.",
        )
    machine = facts.machine.lower()
    if machine in NON_X86_MACHINES:
        return f"{os_name}-{machine}"
    if os_name == "zos":
        return "zos-z"
    if os_name in _WASM_ARCH:
        return f"{os_name}-{_WASM_ARCH[os_name]}"
    return f"{os_name}-{facts.bits}"


def target_subdir(facts: MachineFacts, env: Mapping[str, str]) -> str:
    """The subdir to install for: ``CONDA_SUBDIR`` when set and non-empty, else native."""
    override = env.get("CONDA_SUBDIR", "").strip()
    return parse_subdir(override) if override else native_subdir(facts)


def subdir_machine(subdir: str) -> str | None:
    """The machine name conda derives from a subdir's arch (``get_archspec_name``).

    ``linux-64`` → ``x86_64``, ``win-32`` → ``x86``, ``osx-arm64`` → ``arm64``;
    None for arches conda cannot map (``wasm32``, ``z``, fake arches).
    """
    arch = platform_arch(subdir)
    if arch is None:
        return None
    if arch in NON_X86_MACHINES:
        return arch
    if arch.isdigit():
        return _X86_ARCH_NAMES.get(int(arch))
    return None


# --- detection: the only functions here that look at the running machine ---------------


def _libc() -> tuple[str | None, str | None]:
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        return None, None
    if not value:
        return None, None
    family, _, version = value.strip().partition(" ")
    return (family.lower() or None), (version or None)


#: the CPU fields of /proc/cpuinfo that name a microarchitecture (x86 and ARM)
_CPU_FIELDS = frozenset(
    {"vendor_id", "cpu family", "model", "model name", "stepping", "flags", "Features",
     "CPU implementer", "CPU architecture", "CPU variant", "CPU part", "isa", "uarch"}
)  # fmt: skip
_ARCHSPEC_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def _microarchitecture() -> str | None:
    """py-rattler's answer, remembered per CPU in the user's cache: importing py-rattler
    costs more than the rest of 'ophis info' (Linux only: elsewhere it is asked each time)."""
    identity = _cpu_identity()
    if identity is None:
        return _detect_microarchitecture()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ophis"
    remembered = cache / "archspec.json"
    try:
        saved = json.loads(remembered.read_text(encoding="utf-8"))
        if saved["cpu"] == identity and _ARCHSPEC_NAME.fullmatch(saved["archspec"]):
            return saved["archspec"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    name = _detect_microarchitecture()
    if name is not None:
        with contextlib.suppress(OSError):
            cache.mkdir(parents=True, exist_ok=True)
            write_atomic(remembered, json.dumps({"cpu": identity, "archspec": name}).encode())
    return name


def _cpu_identity() -> str | None:
    """The first processor's identifying lines of /proc/cpuinfo, with the machine name."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    first = text.strip().split("\n\n", 1)[0]
    lines = [
        " ".join(line.split())
        for line in first.splitlines()
        if line.partition(":")[0].strip() in _CPU_FIELDS
    ]
    return "\n".join([_stdlib_platform.machine(), *lines]) if lines else None


def _detect_microarchitecture() -> str | None:
    # py-rattler bundles archspec's CPU database; Python's archspec is not a dependency.
    import rattler

    try:
        detected = rattler.VirtualPackage.detect(rattler.VirtualPackageOverrides())
    except Exception:
        return None
    for package in detected:
        generic = package.into_generic()
        if generic.name.normalized == "__archspec":
            return str(generic.build_string)
    return None


_CUDA_LIBRARIES: Mapping[str, tuple[str, ...]] = {
    "darwin": ("libcuda.1.dylib", "libcuda.dylib", "/usr/local/cuda/lib/libcuda.dylib"),
    "linux": (
        "libcuda.so.1",
        "libcuda.so",
        "/usr/lib64/nvidia/libcuda.so.1",
        "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
        "/usr/lib/wsl/lib/libcuda.so.1",
    ),
    "win32": ("nvcuda.dll",),
}

# Runs in a child process, as conda does: cuInit can hang or crash, and an empty
# CUDA_VISIBLE_DEVICES (removed from the child's environment) would hide every device.
_CUDA_PROBE = """
import ctypes, sys
lib = None
for name in sys.argv[1:]:
    try:
        lib = (ctypes.windll if sys.platform == "win32" else ctypes.cdll).LoadLibrary(name)
        break
    except Exception:
        pass
if lib is not None and lib.cuInit(ctypes.c_uint(0)) == 0:
    v = ctypes.c_int(0)
    if lib.cuDriverGetVersion(ctypes.byref(v)) == 0:
        print(f"{v.value // 1000}.{(v.value % 1000) // 10}")
"""


#: where the dynamic loader looks on Linux besides LD_LIBRARY_PATH and its cache
_LINUX_LIBRARY_DIRS = ("/lib", "/usr/lib", "/lib64", "/usr/lib64")
_LD_SO_CACHE = "/etc/ld.so.cache"


def _cuda_library_present(candidates: tuple[str, ...]) -> bool:
    if sys.platform.startswith("linux"):
        names = [n for n in candidates if not os.path.isabs(n)]
        library_path = os.environ.get("LD_LIBRARY_PATH", "")
        return linux_library_known(names, library_path) or any(map(os.path.exists, candidates))
    import ctypes.util  # elsewhere it finds libraries without starting processes

    if ctypes.util.find_library("cuda") or ctypes.util.find_library("nvcuda"):
        return True
    return any(os.path.isabs(name) and os.path.exists(name) for name in candidates)


def linux_library_known(
    names: list[str],
    library_path: str,
    cache: str = _LD_SO_CACHE,
    dirs: tuple[str, ...] = _LINUX_LIBRARY_DIRS,
) -> bool:
    """Whether the dynamic loader could find one of ``names`` (``libcuda.so.1``): in its
    cache, on ``library_path`` or in the system folders. ctypes' ``find_library`` answers
    by running ldconfig, gcc and ld, which would cost every solve a tenth of a second."""
    with contextlib.suppress(OSError), open(cache, "rb") as handle:
        listed = handle.read()
        if any(name.encode() + b"\0" in listed for name in names):
            return True
    folders = (*filter(None, library_path.split(os.pathsep)), *dirs)
    return any(os.path.exists(os.path.join(f, name)) for f in folders for name in names)


def detect_cuda_version(timeout: float = 60.0) -> str | None:
    """The CUDA version the installed NVIDIA driver supports, or None; never raises. The
    probe (a child process, as conda's) runs only when the loader could find the driver."""
    key = "linux" if sys.platform.startswith("linux") else sys.platform
    candidates = _CUDA_LIBRARIES.get(key, ())
    if not candidates or not _cuda_library_present(candidates):
        return None
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    with contextlib.suppress(Exception):
        done = subprocess.run(
            [sys.executable, "-c", _CUDA_PROBE, *candidates],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
        version = done.stdout.strip()
        return version or None
    return None


def probes_needed(env: Mapping[str, str]) -> dict[str, bool]:
    """:func:`detect_machine_facts`' keywords for a solve in ``env``: only the probes whose
    answer no ``CONDA_OVERRIDE_*`` variable replaces (the CUDA probe may start a process,
    the CPU's reads py-rattler's database)."""
    return {
        "cuda": "CONDA_OVERRIDE_CUDA" not in env,
        "microarchitecture": "CONDA_OVERRIDE_ARCHSPEC" not in env,
    }


def detect_machine_facts(*, cuda: bool = True, microarchitecture: bool = True) -> MachineFacts:
    """Read the running machine. The only impure entry point of this module. Without
    ``cuda`` or ``microarchitecture`` those stay unknown (each costs a probe)."""
    family, libc_version = _libc()
    is_linux = sys.platform.startswith("linux")
    return MachineFacts(
        sys_platform=sys.platform,
        machine=_stdlib_platform.machine(),
        bits=8 * struct.calcsize("P"),
        kernel_release=_stdlib_platform.release() if is_linux else None,
        libc_family=family,
        libc_version=libc_version,
        osx_version=(_stdlib_platform.mac_ver()[0] or None) if sys.platform == "darwin" else None,
        windows_version=_stdlib_platform.version() if sys.platform == "win32" else None,
        microarchitecture=_microarchitecture() if microarchitecture else None,
        cuda_version=detect_cuda_version() if cuda else None,
    )
