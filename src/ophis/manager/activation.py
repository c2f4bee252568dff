"""Activation: what ``ophis activate`` / ``deactivate`` change in a shell, as conda does it.

conda's ``_Activator`` (``conda/activate.py``) keeps its state in the shell's variables:
``CONDA_SHLVL`` counts activations, ``CONDA_PREFIX`` is the active environment and
``CONDA_PREFIX_<n>`` the ones under it, ``CONDA_STACKED_<n>`` marks an activation that kept
the previous environment's ``bin`` on ``PATH``, ``CONDA_DEFAULT_ENV`` names the environment
and ``CONDA_PROMPT_MODIFIER`` is what the prompt shows. An environment's own variables (see
:mod:`ophis.manager.env_vars`) are exported on activation; a variable it overwrites is saved
as ``__CONDA_SHLVL_<n>_<NAME>`` and restored on deactivation. ``etc/conda/activate.d`` scripts
run after activating, ``deactivate.d`` scripts before deactivating.

An :class:`Activator` reads that state and returns :class:`Changes` in conda's order, which
:func:`render` writes in one shell's language; :func:`hook` is the shell function that evals
them, and :func:`run_script` the wrapper ``ophis run`` executes.

py-rattler's ``rattler.shell.activate`` is not used: it renders an activation for a shell in
which nothing is active (it always writes ``CONDA_SHLVL=1``; it sets no ``CONDA_DEFAULT_ENV``,
``CONDA_PROMPT_MODIFIER``, ``CONDA_PREFIX_<n>`` or ``CONDA_STACKED_<n>``; with its default
path behaviour it appends the old ``$PATH`` after a full new one) and it has no deactivation,
while every step here depends on the state a previous activation left.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ophis.core.errors import (
    CondaValueError,
    ConfigurationError,
    EnvironmentLocationNotFound,
    OphisError,
)
from ophis.manager.config import Config
from ophis.manager.env_vars import UNSET_MARKER, environment_env_vars

ROOT_ENV_NAMES = ("base", "root")
_CONDA_META = "conda-meta"


class EnvironmentNameNotFound(OphisError):
    exception_name = "EnvironmentNameNotFound"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"Could not find conda environment: {name}",
            "You can list all discoverable environments with `ophis info --envs`.",
        )


class ShellNotSetUp(OphisError):
    """``ophis activate`` reached the executable: the shell has no ``ophis`` function."""

    exception_name = "CommandNotFoundError"


# --- shells ---------------------------------------------------------------------------------


def _posix_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _fish_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _powershell_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _cmd_value(value: str) -> str:
    return value.replace("%", "%%")  # a batch file expands %NAME%


@dataclass(frozen=True)
class Shell:
    """One shell's syntax for conda's activation commands."""

    name: str
    #: activate.d / deactivate.d scripts this shell runs
    script_extension: str
    export: Callable[[str, str], str]
    unset: Callable[[str], str]
    run_script: Callable[[str], str]
    export_path: Callable[[Sequence[str]], str]
    command_join: str = "\n"
    #: the shell variable holding the prompt, set to show the environment (posix: PS1)
    prompt_var: str | None = None
    #: cmd.exe cannot eval text: the script goes to a temporary file whose path is printed
    tempfile_extension: str | None = None


_POSIX = {
    "script_extension": ".sh",
    "export": lambda k, v: f"export {k}={_posix_quote(v)}",
    "unset": lambda k: f"unset {k}",
    "run_script": lambda p: f". {_posix_quote(p)}",
    "export_path": lambda dirs: f"export PATH={_posix_quote(os.pathsep.join(dirs))}",
    "prompt_var": "PS1",
}

SHELLS: dict[str, Shell] = {
    "bash": Shell("bash", **_POSIX),
    "zsh": Shell("zsh", **_POSIX),
    "posix": Shell("posix", **_POSIX),
    "fish": Shell(
        "fish",
        ".fish",
        export=lambda k, v: f"set -gx {k} {_fish_quote(v)}",
        unset=lambda k: f"set -e {k}",
        run_script=lambda p: f"source {_fish_quote(p)}",
        export_path=lambda dirs: "set -gx PATH " + " ".join(map(_fish_quote, dirs)),
        command_join=";\n",
    ),
    "powershell": Shell(
        "powershell",
        ".ps1",
        export=lambda k, v: f"$Env:{k} = {_powershell_quote(v)}",
        unset=lambda k: f"Remove-Item -LiteralPath Env:{k} -ErrorAction SilentlyContinue",
        run_script=lambda p: f". {_powershell_quote(p)}",
        export_path=lambda dirs: f"$Env:PATH = {_powershell_quote(os.pathsep.join(dirs))}",
    ),
    "cmd": Shell(
        "cmd",
        ".bat",
        export=lambda k, v: f'@SET "{k}={_cmd_value(v)}"',
        unset=lambda k: f"@SET {k}=",
        run_script=lambda p: f'@CALL "{p}"',
        export_path=lambda dirs: f'@SET "PATH={_cmd_value(os.pathsep.join(dirs))}"',
        tempfile_extension=".bat",
    ),
}


def shell_named(name: str | None, environ: Mapping[str, str]) -> Shell:
    """The shell called ``name``; without one, the user's login shell (``$SHELL``) when it is
    one Ophis supports, else bash."""
    if name is None:
        name = os.path.basename(environ.get("SHELL", ""))
    return SHELLS.get(name.lower(), SHELLS["bash"])


# --- what changes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Changes:
    """conda's builder result, rendered in conda's order: PATH first on deactivation, then
    deactivate scripts, unsets, shell variables (the prompt), exports (PATH first on
    activation), activate scripts."""

    path: tuple[str, ...] | None = None
    path_first: bool = False
    deactivate_scripts: tuple[str, ...] = ()
    unset_vars: tuple[str, ...] = ()
    set_vars: dict[str, str] = field(default_factory=dict)
    export_vars: dict[str, str] = field(default_factory=dict)
    activate_scripts: tuple[str, ...] = ()
    #: conda's messages for stderr (overwritten variables, duplicates)
    warnings: tuple[str, ...] = ()


def render(changes: Changes, shell: Shell) -> str:
    commands = []
    if changes.path is not None and changes.path_first:
        commands.append(shell.export_path(changes.path))
    commands += map(shell.run_script, changes.deactivate_scripts)
    commands += map(shell.unset, changes.unset_vars)
    # only posix shells keep their prompt in a variable (PS1)
    commands += [f"{k}={_posix_quote(v)}" for k, v in changes.set_vars.items()]
    if changes.path is not None and not changes.path_first:
        commands.append(shell.export_path(changes.path))
    commands += [shell.export(k, v) for k, v in changes.export_vars.items()]
    commands += map(shell.run_script, changes.activate_scripts)
    return shell.command_join.join([*commands, ""])


def finalize(script: str, shell: Shell) -> str:
    """What ``ophis shell activate`` prints: the script, or (cmd.exe) the path of a
    temporary file holding it, which the caller runs and deletes."""
    if shell.tempfile_extension is None:
        return script
    with tempfile.NamedTemporaryFile(
        "w", suffix=shell.tempfile_extension, delete=False, encoding="utf-8"
    ) as handle:
        handle.write(script)
    return handle.name + "\n"


def _shlvl(environ: Mapping[str, str]) -> int:
    try:
        return int(environ.get("CONDA_SHLVL", "").strip() or 0)
    except ValueError:
        return 0


def _same_path(a: str, b: str) -> bool:
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def _index(path: list[str], directory: str) -> int | None:
    return next((i for i, p in enumerate(path) if _same_path(p, directory)), None)


def _path_dirs(prefix: str) -> list[str]:
    """The directories an environment puts on PATH."""
    if sys.platform == "win32":
        library = [os.path.join(prefix, "Library", d, "bin") for d in ("mingw-w64", "usr")]
        return [
            prefix.rstrip("\\"),
            *library,
            os.path.join(prefix, "Library", "bin"),
            os.path.join(prefix, "Scripts"),
            os.path.join(prefix, "bin"),
        ]
    return [os.path.join(prefix, "bin")]


class Activator:
    """conda's activation logic over a shell's variables (``environ``)."""

    def __init__(self, config: Config, environ: Mapping[str, str], shell: Shell) -> None:
        self.config = config
        self.environ = environ
        self.shell = shell

    # --- finding the environment

    def locate(self, name_or_prefix: str) -> str:
        """conda's rule: a value with a slash is a path, ``base``/``root`` the root prefix,
        anything else a name looked up in ``envs_dirs``."""
        if re.search(r"\\|/", name_or_prefix):
            prefix = os.path.abspath(os.path.expanduser(os.path.expandvars(name_or_prefix)))
        elif name_or_prefix in ROOT_ENV_NAMES:
            # conda activates its root as it is: a pip-installed Ophis's root may hold no
            # environment yet, and `ophis activate` alone must still work there
            return str(self.config.root_prefix)
        else:
            return self._locate_name(name_or_prefix)
        if not os.path.isdir(os.path.join(prefix, _CONDA_META)):
            raise EnvironmentLocationNotFound(
                f"Not a conda environment: {prefix}",
                "Check the path, or create the environment with 'ophis create -p PATH'.",
            )
        return prefix

    def target(self, name: str | None, prefix: str | None) -> str:
        """``-n NAME`` / ``-p PATH``; neither: the active environment, else the root."""
        if name and prefix:
            raise CondaValueError(
                "Both -n/--name and -p/--prefix were given.",
                "Use one of them to name the environment.",
            )
        if prefix:
            return self.locate(os.path.abspath(os.path.expanduser(prefix)))
        if name:
            return self.locate(name)
        return self.locate(self.environ.get("CONDA_PREFIX") or str(self.config.root_prefix))

    def _locate_name(self, name: str) -> str:
        for envs_dir in self.config.envs_dirs:
            prefix = os.path.join(os.path.abspath(envs_dir), name)
            if os.path.isdir(os.path.join(prefix, _CONDA_META)):
                return prefix
        raise EnvironmentNameNotFound(name)

    def default_env(self, prefix: str) -> str:
        """``CONDA_DEFAULT_ENV``: ``base``, the name of an environment in an ``envs`` folder
        (conda's rule) or in one of ``envs_dirs``, else the path."""
        if not prefix:
            return prefix
        if _same_path(prefix, str(self.config.root_prefix)):
            return "base"
        parent = os.path.dirname(prefix)
        if os.path.basename(parent) == "envs" or any(
            _same_path(parent, str(d)) for d in self.config.envs_dirs
        ):
            return os.path.basename(prefix)
        return prefix

    # --- the three operations

    def activate(self, name_or_prefix: str, stack: bool | None = None) -> Changes:
        prefix = self.locate(name_or_prefix)
        old_shlvl = _shlvl(self.environ)
        old_prefix = self.environ.get("CONDA_PREFIX")
        if stack is None:  # conda's auto_stack: stack while shallower than the setting
            auto = int(self.config.get("auto_stack") or 0)
            stack = bool(auto) and old_shlvl <= auto
        if old_prefix == prefix and old_shlvl > 0:
            return self.reactivate()
        default_env = self.default_env(prefix)
        modifier = self.prompt_modifier(prefix, default_env, "stack" if stack else "activate")
        env_vars, warnings = self._own_variables(prefix)
        warnings += self._save_overwritten(env_vars, old_shlvl)
        exports = {
            "CONDA_PREFIX": prefix,
            "CONDA_SHLVL": str(old_shlvl + 1),
            "CONDA_DEFAULT_ENV": default_env,
            "CONDA_PROMPT_MODIFIER": modifier,
            **env_vars,
        }
        unsets: list[str] = []
        deactivate_scripts: tuple[str, ...] = ()
        if old_shlvl == 0:
            path = self._add_prefix_to_path(prefix)
        else:
            if old_prefix is None:
                unsets.append(f"CONDA_PREFIX_{old_shlvl}")
            else:
                exports[f"CONDA_PREFIX_{old_shlvl}"] = old_prefix
            if stack:
                path = self._add_prefix_to_path(prefix)
                exports[f"CONDA_STACKED_{old_shlvl + 1}"] = "true"
            else:
                path = self._replace_prefix_in_path(old_prefix, prefix)
                if old_prefix is not None:
                    deactivate_scripts = self.scripts(old_prefix, "deactivate")
        return Changes(
            path=path,
            deactivate_scripts=deactivate_scripts,
            unset_vars=tuple(unsets),
            set_vars=self._prompt_vars(modifier),
            export_vars=exports,
            activate_scripts=self.scripts(prefix, "activate"),
            warnings=tuple(warnings),
        )

    def deactivate(self) -> Changes:
        old_prefix = self.environ.get("CONDA_PREFIX")
        old_shlvl = _shlvl(self.environ)
        if not old_prefix or old_shlvl < 1:
            return Changes()  # nothing is active: nothing to do
        new_shlvl = old_shlvl - 1
        # without CONDA_PREFIX_<n> (edited by hand; conda fails) it is taken off like a last one
        new_prefix = self.environ.get(f"CONDA_PREFIX_{new_shlvl}") if new_shlvl else None
        old_env_vars, warnings = environment_env_vars(Path(old_prefix))
        if new_prefix is None:
            path = self._replace_prefix_in_path(old_prefix, None)
            unsets = ["CONDA_PREFIX", "CONDA_DEFAULT_ENV", "CONDA_PROMPT_MODIFIER"]
            exports = {"CONDA_SHLVL": str(new_shlvl)}
            modifier = ""
            activate_scripts: tuple[str, ...] = ()
        else:
            default_env = self.default_env(new_prefix)
            modifier = self.prompt_modifier(new_prefix, default_env, "deactivate")
            unsets = [f"CONDA_PREFIX_{new_shlvl}"]
            if f"CONDA_STACKED_{old_shlvl}" in self.environ:
                path = self._replace_prefix_in_path(old_prefix, None)
                unsets.append(f"CONDA_STACKED_{old_shlvl}")
            else:
                path = self._replace_prefix_in_path(old_prefix, new_prefix)
            new_env_vars, more = self._own_variables(new_prefix)
            warnings += more
            exports = {
                "CONDA_PREFIX": new_prefix,
                "CONDA_SHLVL": str(new_shlvl),
                "CONDA_DEFAULT_ENV": default_env,
                "CONDA_PROMPT_MODIFIER": modifier,
                **new_env_vars,
            }
            activate_scripts = self.scripts(new_prefix, "activate")
        for name in old_env_vars:  # unset, or back to the value activation overwrote
            unsets.append(name)
            saved = self.environ.get(f"__CONDA_SHLVL_{new_shlvl}_{name}")
            if saved is not None:
                exports[name] = saved
        return Changes(
            path=path,
            path_first=True,
            deactivate_scripts=self.scripts(old_prefix, "deactivate"),
            unset_vars=tuple(unsets),
            set_vars=self._prompt_vars(modifier),
            export_vars=exports,
            activate_scripts=activate_scripts,
            warnings=tuple(warnings),
        )

    def reactivate(self) -> Changes:
        """Run the active environment's scripts again (after install/update/remove)."""
        prefix = self.environ.get("CONDA_PREFIX")
        shlvl = _shlvl(self.environ)
        if not prefix or shlvl < 1:
            return Changes()
        default_env = self.environ.get("CONDA_DEFAULT_ENV", self.default_env(prefix))
        modifier = self.prompt_modifier(prefix, default_env, "reactivate")
        env_vars, warnings = environment_env_vars(Path(prefix))
        unsets = tuple(k for k, v in env_vars.items() if v == UNSET_MARKER)
        exports = {"CONDA_SHLVL": str(shlvl), "CONDA_PROMPT_MODIFIER": modifier}
        exports.update((k, v) for k, v in env_vars.items() if v != UNSET_MARKER)
        return Changes(
            path=self._replace_prefix_in_path(prefix, prefix),
            deactivate_scripts=self.scripts(prefix, "deactivate"),
            unset_vars=unsets,
            set_vars=self._prompt_vars(modifier),
            export_vars=exports,
            activate_scripts=self.scripts(prefix, "activate"),
            warnings=tuple(warnings),
        )

    # --- pieces

    def _own_variables(self, prefix: str) -> tuple[dict[str, str], list[str]]:
        env_vars, warnings = environment_env_vars(Path(prefix))
        return {k: v for k, v in env_vars.items() if v != UNSET_MARKER}, warnings

    def _save_overwritten(self, env_vars: dict[str, str], old_shlvl: int) -> list[str]:
        """Keep each variable the environment overwrites as ``__CONDA_SHLVL_<n>_<NAME>``."""
        clobbered = [name for name in env_vars if name in self.environ]
        changed = [name for name in clobbered if self.environ[name] != env_vars[name]]
        for name in clobbered:
            env_vars[f"__CONDA_SHLVL_{old_shlvl}_{name}"] = self.environ[name]
        if not changed:
            return []
        return [
            "WARNING: overwriting environment variables set in the machine",
            f"overwriting variable {changed}",
        ]

    def scripts(self, prefix: str, kind: str) -> tuple[str, ...]:
        """``activate.d`` scripts in name order; ``deactivate.d`` in reverse order."""
        folder = os.path.join(prefix, "etc", "conda", f"{kind}.d")
        try:
            paths = [
                e.path for e in os.scandir(folder) if e.name.endswith(self.shell.script_extension)
            ]
        except OSError:
            return ()
        return tuple(sorted(paths, reverse=kind == "deactivate"))

    def _starting_path(self) -> list[str]:
        default = "/usr/bin:/bin:/usr/sbin:/sbin" if sys.platform == "darwin" else "/usr/bin"
        return [os.path.normpath(p) for p in self.environ.get("PATH", default).split(os.pathsep)]

    def _add_prefix_to_path(self, prefix: str) -> tuple[str, ...]:
        return (*_path_dirs(prefix), *self._starting_path())

    def _replace_prefix_in_path(self, old: str | None, new: str | None) -> tuple[str, ...]:
        """conda's rule: the old environment's directories (from the first's first occurrence
        to the last's) are cut out of PATH and the new one's put where they were, or at the
        front when the old ones are not there."""
        path = self._starting_path()
        first = 0
        if old is not None:
            dirs = _path_dirs(old)
            found = _index(path, dirs[0])
            if found is not None:
                first = found
                last = next(i for d in reversed(dirs) if (i := _index(path, d)) is not None)
                del path[first : last + 1]
        if new is not None:
            path[first:first] = _path_dirs(new)
        return tuple(path)

    def prompt_modifier(self, prefix: str, default_env: str, operation: str) -> str:
        """``CONDA_PROMPT_MODIFIER`` from ``env_prompt``; ``{stacked_env}`` lists the
        environments whose ``bin`` is on PATH, the newest first."""
        if not self.config.changeps1:
            return ""
        env_stack: list[str] = []
        prompt_stack: list[str] = []
        old_shlvl = _shlvl(self.environ)
        for level in range(1, old_shlvl + 1):
            key = "CONDA_PREFIX" if level == old_shlvl else f"CONDA_PREFIX_{level}"
            name = self.default_env(self.environ.get(key, "").rstrip())
            env_stack.append(name)
            if not self.environ.get(f"CONDA_STACKED_{level}", "").rstrip():
                prompt_stack = prompt_stack[:-1]
            prompt_stack.append(name)
        if operation == "deactivate":
            prompt_stack, env_stack = prompt_stack[:-1], env_stack[:-1]
            stacked = self.environ.get(f"CONDA_STACKED_{old_shlvl}", "").rstrip()
            if not stacked and env_stack:
                prompt_stack.append(env_stack[-1])
        elif operation != "reactivate":
            if operation != "stack":
                prompt_stack = prompt_stack[:-1]
            prompt_stack.append(default_env)
        try:
            return self.config.env_prompt.format(
                default_env=default_env,
                stacked_env=",".join(reversed(prompt_stack)),
                prefix=prefix,
                name=os.path.basename(prefix),
            )
        except (KeyError, IndexError, ValueError) as error:
            raise ConfigurationError(
                f"env_prompt {self.config.env_prompt!r} cannot be filled in: {error!r}",
                "Use only {default_env}, {stacked_env}, {prefix} and {name} in env_prompt.",
            ) from None

    def _prompt_vars(self, modifier: str) -> dict[str, str]:
        """conda's posix ``_update_prompt``: the old modifier out of PS1, the new one in."""
        var = self.shell.prompt_var
        if not (self.config.changeps1 and var):
            return {}
        prompt = self.environ.get(var, "")
        if "POWERLINE_COMMAND" in prompt:  # powerline draws its own
            return {}
        current = self.environ.get("CONDA_PROMPT_MODIFIER")
        if current:
            prompt = prompt.replace(current, "")
        return {var: modifier + prompt}


# --- the shell functions --------------------------------------------------------------------

_POSIX_HOOK = """\
__ophis_exe() (
    __OPHIS_EXE__ "$@"
)

__ophis_hashr() {
    if [ -n "${ZSH_VERSION:+x}" ]; then
        \\rehash
    elif [ -n "${POSH_VERSION:+x}" ]; then
        :  # pass
    else
        \\hash -r
    fi
}

__ophis_activate() {
    \\local ask_ophis
    ask_ophis="$(PS1="${PS1:-}" __ophis_exe shell "$@" --shell __OPHIS_SHELL__)" || \\return
    \\eval "$ask_ophis"
    __ophis_hashr
}

ophis() {
    \\local cmd="${1-__missing__}"
    case "$cmd" in
        activate|deactivate)
            __ophis_activate "$@"
            ;;
        install|update|upgrade|remove|uninstall)
            __ophis_exe "$@" || \\return
            __ophis_activate reactivate
            ;;
        *)
            __ophis_exe "$@"
            ;;
    esac
}
"""

_FISH_HOOK = """\
function __ophis_exe
    __OPHIS_EXE__ $argv
end

function __ophis_eval
    set -l ask_ophis (__ophis_exe shell $argv --shell fish)
    or return
    eval (string join \\n $ask_ophis)
end

function ophis
    if test (count $argv) -lt 1
        __ophis_exe
        return
    end
    switch $argv[1]
        case activate deactivate
            __ophis_eval $argv
        case install update upgrade remove uninstall
            __ophis_exe $argv
            and __ophis_eval reactivate
        case '*'
            __ophis_exe $argv
    end
end
"""

_FISH_PROMPT = """
if not functions -q __ophis_fish_prompt_orig
    if functions -q fish_prompt
        functions -c fish_prompt __ophis_fish_prompt_orig
        functions -e fish_prompt
    else
        function __ophis_fish_prompt_orig
        end
    end
    function __ophis_return_status
        return $argv
    end
    function fish_prompt
        set -l last_status $status
        if set -q CONDA_PROMPT_MODIFIER
            echo -n -s $CONDA_PROMPT_MODIFIER
        end
        __ophis_return_status $last_status
        __ophis_fish_prompt_orig
    end
end
"""

_POWERSHELL_HOOK = """\
function global:__ophis_exe { & __OPHIS_EXE__ @args }

function global:__ophis_eval {
    $ask_ophis = __ophis_exe shell @args --shell powershell
    if ($LASTEXITCODE -ne 0) { return }
    if ($ask_ophis) { Invoke-Expression ($ask_ophis -join "`n") }
}

function global:ophis {
    $cmd = if ($args.Count -gt 0) { $args[0] } else { '' }
    if ('activate', 'deactivate' -contains $cmd) {
        __ophis_eval @args
    } elseif ('install', 'update', 'upgrade', 'remove', 'uninstall' -contains $cmd) {
        __ophis_exe @args
        if ($LASTEXITCODE -eq 0) { __ophis_eval reactivate }
    } else {
        __ophis_exe @args
    }
}
"""

_POWERSHELL_PROMPT = """
if (-not (Test-Path Function:\\__ophis_prompt_orig)) {
    $function:global:__ophis_prompt_orig = $function:prompt
    function global:prompt {
        if ($Env:CONDA_PROMPT_MODIFIER) { Write-Host $Env:CONDA_PROMPT_MODIFIER -NoNewline }
        __ophis_prompt_orig
    }
}
"""

# cmd.exe evaluates nothing: this is a batch file. Run with no arguments (from AutoRun or by
# hand) it defines the ``ophis`` macro, which calls the same file back to dispatch.
_CMD_HOOK = """\
@IF DEFINED _OPHIS_DISPATCH GOTO :dispatch
@DOSKEY ophis=@SET "_OPHIS_DISPATCH=1" $T @CALL "%~f0" $*
@GOTO :EOF
:dispatch
@SET _OPHIS_DISPATCH=
@IF /I "%~1"=="activate" GOTO :activate
@IF /I "%~1"=="deactivate" GOTO :activate
@__OPHIS_EXE__ %*
@GOTO :EOF
:activate
@SET _OPHIS_SCRIPT=
@FOR /F "delims=" %%i IN ('@CALL __OPHIS_EXE__ shell %* --shell cmd') DO @SET "_OPHIS_SCRIPT=%%i"
@IF NOT DEFINED _OPHIS_SCRIPT GOTO :EOF
@IF NOT "%CONDA_PROMPT_MODIFIER%"=="" @CALL SET "PROMPT=%%PROMPT:%CONDA_PROMPT_MODIFIER%=%%"
@CALL "%_OPHIS_SCRIPT%"
@DEL /F /Q "%_OPHIS_SCRIPT%"
@SET _OPHIS_SCRIPT=
@SET "PROMPT=%CONDA_PROMPT_MODIFIER%%PROMPT%"
"""

_HOOKS = {"fish": _FISH_HOOK, "powershell": _POWERSHELL_HOOK, "cmd": _CMD_HOOK}
_PROMPTS = {"fish": _FISH_PROMPT, "powershell": _POWERSHELL_PROMPT}
_QUOTE = {"fish": _fish_quote, "powershell": _powershell_quote, "cmd": lambda s: f'"{s}"'}


def hook(shell: Shell, command: Sequence[str], config: Config) -> str:
    """The shell code that makes ``ophis activate|deactivate`` change the calling shell and
    sends every other ``ophis ...`` to ``command`` (the executable, by absolute path).

    As conda's hook does, it ends by activating ``default_activation_env`` when
    ``auto_activate`` is set, here only when that environment exists."""
    text = hook_functions(shell, command)
    if shell.name != "cmd":
        text = _hook_exports(shell, command, config) + text + _first_hook(shell)
    if config.changeps1:
        text += _PROMPTS.get(shell.name, "")
    if shell.name != "cmd" and config.get("auto_activate") and _exists(config):
        text += "ophis activate\n"
    return text


def hook_functions(shell: Shell, command: Sequence[str]) -> str:
    """Only the ``ophis`` function and its helpers."""
    quote = _QUOTE.get(shell.name, _posix_quote)
    text = _HOOKS.get(shell.name, _POSIX_HOOK)
    text = text.replace("__OPHIS_EXE__", " ".join(map(quote, command)))
    return text.replace("__OPHIS_SHELL__", shell.name)


def executable_vars(command: Sequence[str], config: Config) -> dict[str, str]:
    """conda's ``conda_exe_vars_dict``: how scripts reach the executable (``$CONDA_EXE``,
    or ``$CONDA_EXE $_CE_M $_CE_CONDA`` when it runs as ``python -m``), its interpreter and
    the root prefix."""
    module = len(command) == 3 and command[1] == "-m"
    return {
        "CONDA_EXE": command[0],
        "_CONDA_EXE": command[0],
        "_CE_M": "-m" if module else "",
        "_CE_CONDA": command[2] if module else "",
        "CONDA_PYTHON_EXE": sys.executable,
        "_CONDA_ROOT": str(config.root_prefix),
    }


def _hook_exports(shell: Shell, command: Sequence[str], config: Config) -> str:
    exports = (shell.export(k, v) for k, v in executable_vars(command, config).items())
    return shell.command_join.join([*exports, ""])


# conda's hook, in a shell where nothing was activated yet: CONDA_SHLVL=0 and the root's
# condabin (which holds only the executable) on PATH, so scripts see conda's starting state
_FIRST_HOOK = {
    "posix": """
if [ -z "${CONDA_SHLVL+x}" ]; then
    \\export CONDA_SHLVL=0
    PATH="${_CONDA_ROOT}/condabin${PATH:+":${PATH}"}"
    \\export PATH
    if [ -z "${PS1+x}" ]; then
        PS1=
    fi
fi
""",
    "fish": """
if not set -q CONDA_SHLVL
    set -gx CONDA_SHLVL 0
    set -gx PATH "$_CONDA_ROOT/condabin" $PATH
end
""",
    "powershell": """
if ($null -eq $Env:CONDA_SHLVL) {
    $Env:CONDA_SHLVL = '0'
    $Env:PATH = (Join-Path $Env:_CONDA_ROOT 'condabin') + [IO.Path]::PathSeparator + $Env:PATH
}
""",
}


def _first_hook(shell: Shell) -> str:
    return _FIRST_HOOK.get(shell.name, _FIRST_HOOK["posix"])


def _exists(config: Config) -> bool:
    name = default_activation_env(config)
    if name in ROOT_ENV_NAMES:
        return os.path.isdir(os.path.join(config.root_prefix, _CONDA_META))
    try:
        Activator(config, {}, SHELLS["posix"]).locate(name)
    except OphisError:
        return False
    return True


def default_activation_env(config: Config) -> str:
    """What a bare ``ophis activate`` activates (conda's ``default_activation_env``)."""
    return str(config.get("default_activation_env") or "base")


def not_set_up_error(shell: Shell) -> ShellNotSetUp:
    """conda's "run 'conda init' first", with the one line that sets up ``shell``."""
    lines = {
        "fish": ("ophis shell hook --shell fish | source", "~/.config/fish/config.fish"),
        "powershell": (
            "ophis shell hook --shell powershell | Out-String | Invoke-Expression",
            "$PROFILE",
        ),
        "cmd": (
            'ophis shell hook --shell cmd > "%USERPROFILE%\\ophis_hook.bat" && '
            'CALL "%USERPROFILE%\\ophis_hook.bat"',
            "the AutoRun of cmd.exe",
        ),
        "zsh": ('eval "$(ophis shell hook --shell zsh)"', "~/.zshrc"),
    }
    line, where = lines.get(shell.name, ('eval "$(ophis shell hook --shell bash)"', "~/.bashrc"))
    return ShellNotSetUp(
        "Your shell has not been properly configured to use 'ophis activate' and "
        "'ophis deactivate'.",
        f"To set up this shell, run\n\n    {line}\n\nand add that line to {where} to keep it.",
    )


# --- ophis run ------------------------------------------------------------------------------


def run_script(
    activator: Activator, prefix: str, argv: Sequence[str], command: Sequence[str]
) -> str:
    """conda run's wrapper (``conda.utils.wrap_subprocess_call``): activate (stopping at the
    first failure), run the command, run the environment's deactivate.d scripts, exit with
    the command's status."""
    # conda passes a multi-line script through as it is
    call = argv[0] if len(argv) == 1 and "\n" in argv[0] else shlex.join(argv)
    deactivate = "".join(
        f"{activator.shell.run_script(s)}\n" for s in activator.scripts(prefix, "deactivate")
    )
    return (
        "set -e\n"
        + hook_functions(activator.shell, command)
        + render(activator.activate(prefix), activator.shell)
        + "set +e\n"
        + f"{call}\n"
        + "_OPHIS_RC=$?\n"
        + deactivate
        + "exit $_OPHIS_RC\n"
    )


def execute_run_script(
    script: str, environ: Mapping[str, str], cwd: Path | None, capture: bool
) -> subprocess.CompletedProcess[bytes]:
    """Run a :func:`run_script` wrapper with bash (else sh), as conda run does; ``capture``
    keeps the output for the caller instead of passing it through."""
    interpreter = shutil.which("bash") or shutil.which("sh")
    if sys.platform == "win32" or interpreter is None:
        raise OphisError(
            "ophis run needs bash or sh to run the activation wrapper.",
            "Install bash, or activate the environment and run the command yourself.",
        )
    with tempfile.NamedTemporaryFile(
        "w", prefix="ophis-run-", suffix=".sh", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(script)
    try:
        return subprocess.run(
            [interpreter, handle.name], env=dict(environ), cwd=cwd, capture_output=capture
        )
    finally:
        os.unlink(handle.name)
