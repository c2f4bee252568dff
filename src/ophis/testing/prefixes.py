"""Prefixes that pass for conda environments in tests, without installing anything."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ophis.manager.env_vars import write_env_vars


def make_fake_env(
    prefix: Path, variables: Mapping[str, str] | None = None, hook_var: str | None = None
) -> Path:
    """A prefix that passes for an environment: ``conda-meta/history`` and ``bin/``; with
    ``hook_var``, activate.d scripts (sh and fish) export it as ``from-<name>`` and
    deactivate.d scripts unset it; ``variables`` go to ``conda-meta/state``."""
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "history").write_text("")
    (prefix / "bin").mkdir()
    if hook_var:
        activate_d = prefix / "etc" / "conda" / "activate.d"
        deactivate_d = prefix / "etc" / "conda" / "deactivate.d"
        activate_d.mkdir(parents=True)
        deactivate_d.mkdir(parents=True)
        (activate_d / "x.sh").write_text(f"export {hook_var}=from-{prefix.name}\n")
        (activate_d / "x.fish").write_text(f"set -gx {hook_var} from-{prefix.name}\n")
        (deactivate_d / "x.sh").write_text(f"unset {hook_var}\n")
        (deactivate_d / "x.fish").write_text(f"set -e {hook_var}\n")
    if variables is not None:
        write_env_vars(prefix, variables)
    return prefix
