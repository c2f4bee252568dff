"""Explaining a failed solve the way conda does: which requested packages lead, through
their dependencies, to incompatible requirements on the same package.

conda's ``UnsatisfiableError`` lists, for each package asked for in incompatible ways, the
chains from a requested spec to it (``a -> c[version='<2']``), with each spec written as
conda writes a ``MatchSpec``; scripts read the same chains from its ``unsatisfiable`` field.
A dependency that no channel has at all is reported instead as missing, as conda >= 24
does (``PackagesNotFoundInChannelsError`` naming the dependency); a virtual package the
system lacks or has too old (``__cuda>=9.0``) is conda's "incompatible with your system".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import rattler
from rattler.exceptions import InvalidMatchSpecError

from ophis.core.errors import UnsatisfiableError
from ophis.manager.specs import ParsedSpec

Records = Callable[[str], list[rattler.RepoDataRecord]]

#: how many dependency levels below a requested package are searched for a conflict
MAX_DEPTH = 3
_OPERATOR = re.compile(r"[<>=!~,|*]")
#: rattler's wording for a requirement nothing provides
_NO_CANDIDATES = re.compile(r"─ (.+?), for which no candidates were found")
_UNSAT_REMEDY = (
    "Relax the versions you asked for, remove the conflicting packages from the environment, "
    "or create a new environment for this request."
)


def missing_dependencies(solver_message: str) -> list[str]:
    """The requirements rattler found nothing for, when that is the only reason given."""
    if "conflict" in solver_message.lower():
        return []
    found = (m.strip() for m in _NO_CANDIDATES.findall(solver_message))
    return list(dict.fromkeys(conda_spec_str(spec.removesuffix(" *")) for spec in found))


def conda_spec_str(spec: str) -> str:
    """A spec written as conda prints a MatchSpec: ``c[version='<2']``, ``c=2``, ``c==1.0``."""
    parts = spec.strip().split(None, 2)
    name = parts[0] if parts else spec
    match = re.match(r"^([A-Za-z0-9_.\-]+)(.*)$", name)
    if match and match.group(2) and len(parts) == 1:  # "c<2": the version is glued on
        name, parts = match.group(1), [match.group(1), match.group(2)]
    version = parts[1].strip() if len(parts) > 1 else ""
    build = parts[2].strip() if len(parts) > 2 else ""
    if not version or version == "*":
        return name if not build else f"{name}[build='{build}']"
    if build:
        return f"{name}[version='{version}',build='{build}']"
    if version.endswith(".*") and not _OPERATOR.search(version[:-2]):
        return f"{name}={version[:-2]}"
    if version.startswith("==") and not _OPERATOR.search(version[2:]):
        return f"{name}{version}"
    if not _OPERATOR.search(version):
        return f"{name}=={version}"
    return f"{name}[version='{version}']"


def unsatisfiable_error(
    requested: Sequence[ParsedSpec], records: Records, solver_message: str
) -> UnsatisfiableError:
    """conda's UnsatisfiableError for ``requested``, with its conflict chains when they can
    be found; else the solver's own explanation."""
    conflicts = conflict_chains(requested, records)
    if not conflicts:
        listed = "".join(f"\n  - {p.original.strip()}" for p in requested)
        return UnsatisfiableError(
            "The following specifications were found to be incompatible with each other "
            f"or with the environment:\n{listed}\n\n{solver_message}",
            _UNSAT_REMEDY,
        )
    text = (
        "The following specifications were found to be incompatible with each other:\n"
        "\nOutput in format: Requested package -> Available versions"
    )
    for name, chains in conflicts.items():
        text += f"\n\nPackage {name} conflicts for:\n" + "\n".join(" -> ".join(c) for c in chains)
    every_chain = [chain for chains in conflicts.values() for chain in chains]
    return UnsatisfiableError(text, _UNSAT_REMEDY, every_chain)


def conflict_chains(
    requested: Sequence[ParsedSpec], records: Records
) -> dict[str, list[list[str]]]:
    """Package name -> the chains (requested spec, then dependency specs) that reach it, for
    each package that two requested packages need in ways no single record satisfies (a
    requested package reaching it by several paths needs any one of them)."""
    reached: dict[str, list[_Path]] = {}
    for parsed in requested:
        root = _Path(
            (conda_spec_str(str(parsed.rattler_spec)),), (parsed.name,), parsed.rattler_spec
        )
        reached.setdefault(parsed.name, []).append(root)
        _walk(root, records, reached)
    conflicts: dict[str, list[list[str]]] = {}
    for name, paths in sorted(reached.items()):
        by_root: dict[str, list[_Path]] = {}
        for path in paths:
            by_root.setdefault(path.chain[0], []).append(path)
        if len(by_root) < 2:
            continue
        if not any(
            all(any(p.spec.matches(r) for p in alternatives) for alternatives in by_root.values())
            for r in records(name)
        ):
            conflicts[name] = [list(p.chain) for p in dict.fromkeys(paths)]
    return conflicts


@dataclass(frozen=True)
class _Path:
    chain: tuple[str, ...]  #: the specs, as conda writes them
    names: tuple[str, ...]  #: the package names along the chain (no cycles)
    spec: rattler.MatchSpec = field(compare=False)


def _walk(path: _Path, records: Records, reached: dict[str, list[_Path]]) -> None:
    if len(path.chain) > MAX_DEPTH:
        return
    depends = {d for r in records(path.names[-1]) if path.spec.matches(r) for d in r.depends}
    for text in sorted(depends):
        try:
            dep = rattler.MatchSpec(text, strict=False)
        except InvalidMatchSpecError:
            continue  # a malformed dependency names nothing to conflict over
        name = dep.name.normalized if dep.name else ""
        if not name or name.startswith("__") or name in path.names:
            continue
        step = _Path((*path.chain, conda_spec_str(text)), (*path.names, name), dep)
        reached.setdefault(name, []).append(step)
        _walk(step, records, reached)


def system_incompatibility(
    requested: Sequence[ParsedSpec],
    records: Records,
    missing: Sequence[str],
    installed_virtual: dict[str, str],
    subdir: str,
) -> UnsatisfiableError | None:
    """conda's UnsatisfiableError for requested packages that need a virtual package the
    system lacks or has too old (``__cuda``, ``__glibc``), when that is all that is
    missing; else None."""
    names = {_spec_name(m) for m in missing}
    if not names or not all(n.startswith("__") for n in names):
        return None
    lines = []
    for name in sorted(names):
        if name in installed_virtual:
            lines.append(f"feature:/{subdir}::{name}=={installed_virtual[name]}=0")
        for parsed in requested:
            versions = sorted(
                {
                    dep[len(name) :].strip() or "*"
                    for record in records(parsed.name)
                    for dep in record.depends
                    if _spec_name(dep) == name
                }
            )
            if versions:
                lines.append(f"{parsed.name} -> {name}[version='{'|'.join(versions)}']")
    installed = " ".join(installed_virtual.get(n, "not available") for n in sorted(names))
    listed = "".join(f"\n  - {line}" for line in lines)
    return UnsatisfiableError(
        "The following specifications were found to be incompatible with your system:\n"
        f"{listed}\n\nYour installed version is: {installed}",
        "Ask for a build this system supports, or override the detected version (for "
        "example CONDA_OVERRIDE_CUDA) if it is wrong; 'ophis info' lists the virtual "
        "packages.",
    )


def _spec_name(spec: str) -> str:
    return re.split(r"[\s=<>!~\[]", spec.strip(), maxsplit=1)[0]
