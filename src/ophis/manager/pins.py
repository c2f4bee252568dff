"""Pinned specs: the ``pinned_packages`` setting and an environment's ``conda-meta/pinned``.

conda's rules (``get_pinned_specs`` in ``conda/core/solve.py`` and
``PrefixData.get_pinned_specs``): every solve in an environment respects both lists, the
configured pins first; the file holds one spec a line, and blank lines and lines starting
with ``#`` are skipped. ``--no-pin`` (``ignore_pinned``) drops both. What a pin does in the
solve is in :mod:`ophis.manager.solve`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ophis.core.errors import CondaValueError, OphisError
from ophis.manager.specs import parse_spec

__all__ = ["PINNED_FILE", "pinned_specs", "read_pinned_file"]

PINNED_FILE = Path("conda-meta") / "pinned"
#: a pin file is a short list of specs; anything larger is refused before it is read
MAX_PINNED_BYTES = 256 * 1024


def read_pinned_file(prefix: Path) -> tuple[str, ...]:
    """The specs of ``<prefix>/conda-meta/pinned`` (none when it does not exist)."""
    path = Path(prefix) / PINNED_FILE
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_PINNED_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return ()
    except OSError as error:
        raise _bad_file(path, error.strerror or str(error)) from None
    if len(data) > MAX_PINNED_BYTES:
        raise _bad_file(path, f"it is larger than {MAX_PINNED_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_file(path, "it is not UTF-8 text") from None
    specs = []
    for number, line in enumerate(text.splitlines(), start=1):
        spec = line.split("#", 1)[0].strip()
        if not spec:
            continue
        try:
            parse_spec(spec)
        except OphisError as error:
            raise _bad_file(path, f"line {number}: {error.message}") from None
        specs.append(spec)
    return tuple(specs)


def pinned_specs(prefix: Path, configured: Sequence[str], *, ignore: bool) -> tuple[str, ...]:
    """The pins of a solve in ``prefix``: ``pinned_packages``, then the prefix's file."""
    if ignore:
        return ()
    return (*configured, *read_pinned_file(prefix))


def _bad_file(path: Path, why: str) -> CondaValueError:
    return CondaValueError(
        f"Cannot read the pinned specs in {path}: {why}.",
        "Write one package spec a line (e.g. 'numpy 1.26.*'), or remove the file; "
        "--no-pin ignores it for one command.",
    )
