"""conda's create/install/update options that shape a change without changing the solve:
default packages, a foreign platform remembered by the environment, skipping the solve."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import rattler

from ophis.core.errors import OphisError
from ophis.core.platform import detect_machine_facts, native_subdir
from ophis.manager.specs import spec_name

#: the solver names conda knows (``--solver``); Ophis answers with one solver for all
KNOWN_SOLVERS = ("classic", "libmamba", "rattler")
SKIP_SOLVE = "specs_satisfied_skip_solve"


class DownloadOnlyExit(OphisError):
    """conda's end of ``--download-only``: the package cache is filled, nothing linked."""

    exception_name = "CondaExitZero"
    exit_code = 0

    def __init__(self) -> None:
        super().__init__(
            "Package caches prepared. UnlinkLinkTransaction cancelled with --download-only option."
        )


def unnamed_prefix() -> Path:
    """conda's target for ``create --dry-run`` or ``--download-only`` without -n/-p: a
    prefix that does not exist and is never written (named as conda names it)."""
    return Path(tempfile.gettempdir()) / f"ophis-{uuid.uuid4().hex}" / "unused-env-name"


def with_default_packages(specs: Sequence[str], defaults: Iterable[str]) -> tuple[str, ...]:
    """conda's ``create_default_packages``: each default whose package the specs do not
    name already is added (a named one keeps the user's constraint)."""
    named = {spec_name(s) for s in specs}
    return (*specs, *(d for d in defaults if spec_name(d) not in named))


def remember_subdir(prefix: Path, subdir: str) -> None:
    """A new environment for another platform keeps it, as conda does, as ``subdir:`` in
    its own ``.condarc``."""
    if subdir == native_subdir(detect_machine_facts(cuda=False, microarchitecture=False)):
        return
    from ophis.manager.condarc import read_rc_file, write_rc_file  # its YAML: only here

    path = prefix / ".condarc"
    document = read_rc_file(path)
    document["subdir"] = subdir
    write_rc_file(path, document)


def satisfied(specs: Sequence[str], installed: Iterable[rattler.PrefixRecord]) -> bool:
    """Whether every spec is met by an installed package (``--satisfied-skip-solve``)."""
    records = list(installed)
    wanted = [rattler.MatchSpec(s, strict=False) for s in specs]
    return bool(wanted) and all(any(w.matches(r) for r in records) for w in wanted)
