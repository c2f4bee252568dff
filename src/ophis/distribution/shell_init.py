"""``ophis shell init``: Ophis's block in the user's shell start-up file, reversibly.

The block is static shell code generated now, with this Ophis's absolute path: the
``ophis`` function of ``ophis shell hook`` (which runs Ophis only when the user types an
``ophis`` command), never a call to Ophis itself. So opening a shell starts no Python
(conda's ``conda init`` runs ``conda shell.bash hook`` in every new shell).

The block sits between marker lines, after a line break of its own; writing it again
replaces it (nothing changes when it is the same), and ``--reverse`` takes out exactly what
was added, so the file is byte for byte what it was.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ophis.core.atomic_file import write_atomic
from ophis.core.errors import OphisError
from ophis.manager.activation import SHELLS, hook, hook_functions
from ophis.manager.config import BASE_MARKER, Config

BEGIN = "# >>> ophis initialize >>>"
END = "# <<< ophis initialize <<<"
INIT_SHELLS = ("bash", "zsh", "fish", "powershell")
#: written by the installer into the base environment it makes: an Ophis running from there
#: has that environment as its root prefix
_BLOCK = re.compile("\n?" + re.escape(BEGIN) + r"\n.*?" + re.escape(END) + "(?:\n|$)", re.DOTALL)


class ShellInitError(OphisError):
    exception_name = "ShellInitError"


@dataclass(frozen=True)
class InitChange:
    shell: str
    path: Path
    before: bytes | None  #: None: the file does not exist
    after: bytes
    action: str  #: "added" | "updated" | "removed" | "unchanged"

    @property
    def changed(self) -> bool:
        return self.action != "unchanged"

    def to_json(self) -> dict[str, object]:
        return {
            "shell": self.shell,
            "file": str(self.path),
            "action": self.action,
            "changed": self.changed,
        }


def default_init_shell(environ: Mapping[str, str]) -> str:
    name = os.path.basename(environ.get("SHELL", "")).lower()
    return name if name in INIT_SHELLS else "bash"


def startup_file(shell: str, environ: Mapping[str, str]) -> Path:
    """The file each shell reads when an interactive shell starts."""
    home = Path(environ.get("HOME") or Path.home())
    if shell == "bash":
        return home / ".bashrc"
    if shell == "zsh":
        return Path(environ.get("ZDOTDIR") or home) / ".zshrc"
    config = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    if shell == "fish":
        return config / "fish" / "config.fish"
    if shell == "powershell":
        if sys.platform == "win32":
            return home / "Documents" / "PowerShell" / "profile.ps1"
        return config / "powershell" / "profile.ps1"
    raise ShellInitError(
        f"'ophis shell init' does not know the shell {shell!r}.",
        f"Name one of: {', '.join(INIT_SHELLS)}.",
    )


def init_block(
    shell: str, command: Sequence[str], root_prefix: Path | None, config: Config | None = None
) -> str:
    """The block, markers included, without a line break after the end marker. With
    ``config``, the hook's prompt code comes too (fish, PowerShell; when changeps1)."""
    target = SHELLS[shell]
    lines = [BEGIN, "# Written by 'ophis shell init'; 'ophis shell init --reverse' removes it."]
    if root_prefix is not None:
        lines.append(target.export("OPHIS_ROOT_PREFIX", str(root_prefix)))
    body = hook(target, command, config) if config else hook_functions(target, command)
    # auto_activate's last line would start Ophis in every new shell: left out on purpose
    body = body.removesuffix("ophis activate\n").rstrip("\n")
    return "\n".join([*lines, body, END])


def installed_root_prefix() -> Path | None:
    """The base environment this Ophis runs from, when an installer made it."""
    prefix = Path(sys.prefix)
    return prefix if (prefix / BASE_MARKER).is_file() else None


def plan_init(
    shell: str,
    command: Sequence[str],
    environ: Mapping[str, str],
    *,
    reverse: bool = False,
    root_prefix: Path | None = None,
    config: Config | None = None,
) -> InitChange:
    """What the start-up file becomes; nothing is written."""
    path = startup_file(shell, environ)
    before = _read(path)
    text = (before or b"").decode("utf-8", errors="surrogateescape")
    found = _BLOCK.search(text)
    if reverse:
        if found is None:
            return InitChange(shell, path, before, before or b"", "unchanged")
        # the line break before the block was added with it, unless lines follow the block
        start = found.start() + (found.end() < len(text) and found.group(0).startswith("\n"))
        after = text[:start] + text[found.end() :]
        return InitChange(shell, path, before, _encode(after), "removed")
    block = init_block(shell, command, root_prefix, config)
    if found is None:
        return InitChange(shell, path, before, _encode(f"{text}\n{block}\n"), "added")
    wanted = f"\n{block}\n"
    if found.group(0).lstrip("\n") == wanted.lstrip("\n"):
        return InitChange(shell, path, before, before or b"", "unchanged")
    # keep the line break before the block as it was, whatever the block's new content
    lead = "\n" if found.group(0).startswith("\n") else ""
    after = text[: found.start()] + lead + block + "\n" + text[found.end() :]
    return InitChange(shell, path, before, _encode(after), "updated")


def apply_init(change: InitChange) -> None:
    if not change.changed:
        return
    try:
        change.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(change.path, change.after)
    except OSError as error:
        raise ShellInitError(
            f"Cannot write {change.path}: {error.strerror}.",
            "Make the file writable, or add the block by hand (see --dry-run).",
        ) from None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ShellInitError(
            f"Cannot read {path}: {error.strerror}.", "Make the file readable, then try again."
        ) from None


def _encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")
