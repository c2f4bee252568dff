"""``ophis create|install|update|remove``: conda's verbs, flags and ``--json`` output."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from textwrap import indent
from typing import TYPE_CHECKING, Any, NoReturn

from ophis.cli import plan_report
from ophis.cli.declared import declared
from ophis.cli.output import (
    confirm_proceed,
    emit_json,
    exit_declined,
    fail,
    progress_bar,
    stderr,
    stdout,
    warn,
)
from ophis.core.errors import CondaValueError, OphisError
from ophis.manager.config import Config, load_config_from_os
from ophis.manager.create_options import (
    KNOWN_SOLVERS,
    SKIP_SOLVE,
    DownloadOnlyExit,
    unnamed_prefix,
    with_default_packages,
)
from ophis.manager.records import dist_fields, record_dump
from ophis.manager.targets import ChangeRequest, resolve_prefix

if TYPE_CHECKING:
    import typer

    from ophis.manager.operations import ChangeOutcome, SpecFiles


def register(app: typer.Typer) -> None:
    """The four verbs as Typer commands: the functions below with their options declared
    (:mod:`ophis.cli.quick` calls the same functions without Typer)."""
    import typer

    from ophis.cli import options

    everywhere = {
        "specs": options.SPECS,
        "name": options.NAME,
        "prefix": options.PREFIX,
        "channel": options.CHANNEL,
        "override_channels": options.OVERRIDE,
        "offline": options.OFFLINE,
        "refuse_link_scripts": options.REFUSE_LINK_SCRIPTS,
        "dry_run": options.DRY_RUN,
        "yes": options.YES,
        "quiet": options.QUIET,
        "json_output": options.JSON,
    }
    solving = {
        "strict_channel_priority": options.STRICT,
        "no_channel_priority": options.NO_PRIORITY,
        "file": options.FILE,
        "no_deps": options.NO_DEPS,
        "only_deps": options.ONLY_DEPS,
        "no_pin": options.NO_PIN,
        "copy": options.COPY,
        "download_only": options.DOWNLOAD_ONLY,
        "repodata_fn": options.REPODATA_FN,
        "solver": options.SOLVER,
        "use_index_cache": options.USE_INDEX_CACHE,
        "insecure": options.INSECURE,
    }
    updating = {
        "force_reinstall": options.FORCE_REINSTALL,
        "freeze_installed": options.FREEZE,
        "update_specs": options.UPDATE_SPECS,
        "update_deps": options.UPDATE_DEPS,
        "satisfied_skip_solve": options.SATISFIED_SKIP_SOLVE,
    }
    option = typer.Option
    created = declared(
        create,
        **everywhere,
        **solving,
        locked=options.LOCKED,
        clone=option(
            None, "--clone", help="Copy this environment (a name or a path) into the new one."
        ),
        subdir=option(
            None,
            "--subdir",
            "--platform",
            help="Create the environment for this platform (e.g. osx-arm64); it remembers it.",
        ),
        no_default_packages=option(
            False, "--no-default-packages", help="Ignore create_default_packages in .condarc."
        ),
    )
    installed = declared(
        install,
        **everywhere,
        **solving,
        **updating,
        locked=options.LOCKED,
        update_all=option(False, "--update-all", "--all", help="Update everything."),
        revision=option(
            None, "--revision", help="Go back to revision N (see 'ophis list --revisions')."
        ),
    )
    updated = declared(
        update,
        **everywhere,
        **solving,
        **updating,
        update_all=option(False, "--all", "--update-all", help="Update everything."),
    )
    removed = declared(
        remove,
        **everywhere,
        all_packages=option(False, "--all", help="Remove the whole environment."),
        force=option(
            False, "--force", "--no-deps", help="Remove only the named packages, not dependents."
        ),
    )
    app.command("create")(created)
    app.command("install")(installed)
    app.command("update")(updated)
    app.command("upgrade", hidden=True)(updated)
    app.command("remove")(removed)
    app.command("uninstall", hidden=True)(removed)


def create(
    specs: list[str] | None = None,
    name: str | None = None,
    prefix: str | None = None,
    channel: Sequence[str] = (),
    override_channels: bool = False,
    strict_channel_priority: bool = False,
    no_channel_priority: bool = False,
    file: Sequence[Path] = (),
    locked: Path | None = None,
    clone: str | None = None,
    no_deps: bool = False,
    only_deps: bool = False,
    offline: bool = False,
    no_pin: bool = False,
    subdir: str | None = None,
    no_default_packages: bool = False,
    copy: bool = False,
    download_only: bool = False,
    repodata_fn: Sequence[str] = (),
    solver: str | None = None,
    use_index_cache: bool = False,
    insecure: bool = False,
    refuse_link_scripts: bool = False,
    dry_run: bool = False,
    yes: bool = False,
    quiet: bool = False,
    json_output: bool = False,
) -> None:
    """Create a new environment from package specs, an @EXPLICIT file, a lock file or a
    clone."""
    run_change("create", ChangeOptions(**locals()))


def install(
    specs: list[str] | None = None,
    name: str | None = None,
    prefix: str | None = None,
    channel: Sequence[str] = (),
    override_channels: bool = False,
    strict_channel_priority: bool = False,
    no_channel_priority: bool = False,
    file: Sequence[Path] = (),
    locked: Path | None = None,
    no_deps: bool = False,
    only_deps: bool = False,
    offline: bool = False,
    no_pin: bool = False,
    force_reinstall: bool = False,
    freeze_installed: bool = False,
    update_specs: bool = False,
    update_deps: bool = False,
    update_all: bool = False,
    satisfied_skip_solve: bool = False,
    copy: bool = False,
    download_only: bool = False,
    repodata_fn: Sequence[str] = (),
    solver: str | None = None,
    use_index_cache: bool = False,
    insecure: bool = False,
    revision: int | None = None,
    refuse_link_scripts: bool = False,
    dry_run: bool = False,
    yes: bool = False,
    quiet: bool = False,
    json_output: bool = False,
) -> None:
    """Install packages into an existing environment."""
    options = ChangeOptions(**locals())
    _check_install_arguments(options)
    run_change("install", options)


def _check_install_arguments(o: ChangeOptions) -> None:
    """conda's rule: packages (or --file), or --revision, never both and never neither."""
    given = bool(o.specs or o.file or o.locked)
    if o.revision is not None and given:
        wrong = "too many arguments"
    elif o.revision is None and not given:
        wrong = "too few arguments"
    else:
        return
    fail(
        CondaValueError(
            f"{wrong}, must supply one of command line packages, --file or --revision",
            "Name the packages to install (or --file FILE), or go back with --revision N.",
        ),
        o.json_output,
    )


def update(
    specs: list[str] | None = None,
    name: str | None = None,
    prefix: str | None = None,
    channel: Sequence[str] = (),
    override_channels: bool = False,
    strict_channel_priority: bool = False,
    no_channel_priority: bool = False,
    file: Sequence[Path] = (),
    no_deps: bool = False,
    only_deps: bool = False,
    offline: bool = False,
    no_pin: bool = False,
    force_reinstall: bool = False,
    freeze_installed: bool = False,
    update_specs: bool = False,
    update_deps: bool = False,
    update_all: bool = False,
    satisfied_skip_solve: bool = False,
    copy: bool = False,
    download_only: bool = False,
    repodata_fn: Sequence[str] = (),
    solver: str | None = None,
    use_index_cache: bool = False,
    insecure: bool = False,
    refuse_link_scripts: bool = False,
    dry_run: bool = False,
    yes: bool = False,
    quiet: bool = False,
    json_output: bool = False,
) -> None:
    """Update packages to the newest versions the environment allows."""
    if not specs and not file and not update_all:
        fail(
            CondaValueError(
                "No package names supplied.",
                "Name the packages to update, or use --all to update everything.",
            ),
            json_output,
        )
    run_change("update", ChangeOptions(**locals()))


def remove(
    specs: list[str] | None = None,
    name: str | None = None,
    prefix: str | None = None,
    channel: Sequence[str] = (),
    override_channels: bool = False,
    all_packages: bool = False,
    force: bool = False,
    offline: bool = False,
    refuse_link_scripts: bool = False,
    dry_run: bool = False,
    yes: bool = False,
    quiet: bool = False,
    json_output: bool = False,
) -> None:
    """Remove packages from an environment."""
    if not specs and not all_packages:
        fail(
            CondaValueError(
                "No package names supplied.",
                "Name the packages to remove, or use --all to remove the environment.",
            ),
            json_output,
        )
    run_change("remove", ChangeOptions(**locals()))


def _modifier(
    freeze: bool, specs: bool, deps: bool, everything: bool, skip: bool = False
) -> str | None:
    chosen = [
        m
        for m, on in (
            ("freeze_installed", freeze),
            ("update_specs", specs),
            ("update_deps", deps),
            ("update_all", everything),
            (SKIP_SOLVE, skip),
        )
        if on
    ]
    if len(chosen) > 1:
        import typer  # the quick path hands a usage error to Typer, which reports it

        raise typer.BadParameter(f"choose one of {', '.join(chosen)}")
    return chosen[0] if chosen else None


@dataclass(frozen=True)
class ChangeOptions:
    """What the four verbs were given, by their option names (Typer passes them one by one).
    Other commands that change an environment (``env``, ``doctor``) build one with
    :meth:`quiet_defaults` and call :func:`run_change`."""

    specs: list[str] | None
    name: str | None
    prefix: str | None
    channel: Sequence[str]
    override_channels: bool
    offline: bool
    dry_run: bool
    yes: bool
    quiet: bool
    json_output: bool
    strict_channel_priority: bool = False
    no_channel_priority: bool = False
    file: Sequence[Path] = ()
    no_deps: bool = False
    only_deps: bool = False
    force_reinstall: bool = False
    freeze_installed: bool = False
    update_specs: bool = False
    update_deps: bool = False
    update_all: bool = False
    revision: int | None = None
    force: bool = False
    all_packages: bool = False
    locked: Path | None = None
    clone: str | None = None
    refuse_link_scripts: bool = False
    no_pin: bool = False
    subdir: str | None = None
    no_default_packages: bool = False
    copy: bool = False
    download_only: bool = False
    repodata_fn: Sequence[str] = ()
    solver: str | None = None
    use_index_cache: bool = False
    insecure: bool = False
    satisfied_skip_solve: bool = False

    @classmethod
    def quiet_defaults(
        cls, name: str | None, prefix: str | None, *, json_output: bool, **given: Any
    ) -> ChangeOptions:
        """Options for ``name``/``prefix`` with no specs or channels, answering yes."""
        base: dict[str, Any] = {
            "specs": [],
            "channel": [],
            "override_channels": False,
            "offline": False,
            "dry_run": False,
            "yes": True,
            "quiet": json_output,
        }
        return cls(name=name, prefix=prefix, json_output=json_output, **{**base, **given})

    @property
    def update_modifier(self) -> str | None:
        return _modifier(
            self.freeze_installed,
            self.update_specs,
            self.update_deps,
            self.update_all,
            self.satisfied_skip_solve,
        )

    @property
    def channel_priority(self) -> str | None:
        if self.strict_channel_priority:
            return "strict"
        return "disabled" if self.no_channel_priority else None


def run_change(
    action: str, o: ChangeOptions, *, defer_json: bool = False, defer_hint: bool = False
) -> ChangeOutcome:
    """Plan and carry out the change, and report it; with ``defer_json`` the caller prints
    the JSON document (one for a whole ``env`` command, as conda prints), with
    ``defer_hint`` the activation hint of a new environment (after its pip packages)."""
    # here, not at the top: 'ophis install --help' needs neither the solver nor the network
    from ophis.manager.operations import SpecFiles, package_urls, read_spec_files

    env = dict(os.environ)
    try:
        config = load_config_from_os(
            offline=o.offline or None,
            ophis_link_scripts="refuse" if o.refuse_link_scripts else None,
            **_config_flags(o),
        )
        if action == "create" and not (o.name or o.prefix) and (o.dry_run or o.download_only):
            o = replace(o, prefix=str(unnamed_prefix()))
        target = resolve_prefix(o.name, o.prefix, config, env, creating=action == "create")
        files = read_spec_files(o.file)
        urls = package_urls(o.specs or ()) if not o.file else None
        if urls is not None:
            files, o = SpecFiles(explicit=urls), replace(o, specs=[])
        all_specs = tuple([*(o.specs or ()), *files.specs])
        if o.all_packages:
            from ophis.manager.environments import check_removable

            check_removable(target, config, env)
            all_specs = tuple(_installed_names(target))
            if not o.json_output:  # conda's remove --all: this line, then the plan (no solve)
                plan_report.write(f"\nRemove all packages in environment {target}:\n\n")
        solved = not (o.clone or o.locked or files.explicit is not None)
        if action == "create" and solved and not o.no_default_packages:
            all_specs = with_default_packages(all_specs, config.create_default_packages)
        request = ChangeRequest(
            action=action,
            prefix=target,
            specs=all_specs,
            channels=tuple(o.channel),
            override_channels=o.override_channels,
            channel_priority=o.channel_priority,
            dry_run=o.dry_run or config.dry_run,
            no_deps=o.no_deps,
            only_deps=o.only_deps,
            update_modifier=o.update_modifier,
            force_reinstall=o.force_reinstall,
            force=o.force,
            revision=o.revision,
            argv=tuple(sys.argv),
            ignore_pinned=o.no_pin,
        )
        if action == "create" and (target / "conda-meta").is_dir():
            _confirm_replacing(target, o, config)
        outcome = _plan(request, o, files, config)
        if o.all_packages and outcome.solution is not None:
            # conda unlinks everything without naming specs: its plan lists none
            outcome.solution = replace(outcome.solution, remove_specs=())
        if outcome.clone_source is not None and not o.json_output:
            _print_clone(outcome)
        outcome = _confirm_execute(
            request,
            outcome,
            config,
            o.yes or config.always_yes,
            o.json_output,
            o.quiet or config.quiet,
            o.download_only,
        )
    except OphisError as error:
        fail(error, o.json_output)
    # conda's explicit installs (@EXPLICIT files, package URLs) print no JSON at all
    exact = files.explicit is not None
    _report(outcome, action, o, config, print_json=not (defer_json or exact))
    if o.all_packages and not outcome.dry_run:
        _remove_environment(target, o, config, env)
    if action == "create" and not (defer_hint or outcome.dry_run):
        print_activation_hint(o, config, outcome.prefix)
    if action != "remove" and not (o.json_output or outcome.dry_run):
        from ophis.cli.commands.notices import show_new_notices  # it imports this module

        show_new_notices(outcome.channels, config)
    return outcome


def _config_flags(o: ChangeOptions) -> dict[str, Any]:
    """The command-line values that are conda settings (None: not given)."""
    if o.solver is not None and o.solver not in KNOWN_SOLVERS:
        import typer  # the quick path hands a usage error to Typer, which reports it

        choices = ", ".join(f"'{name}'" for name in KNOWN_SOLVERS)
        raise typer.BadParameter(
            f"invalid choice: {o.solver!r} (choose from {choices})", param_hint="'--solver'"
        )
    if o.solver is not None and o.solver != "rattler" and not o.quiet:
        warn([f"--solver {o.solver}: Ophis has one solver (resolvo, as rattler), used for all."])
    return {
        "subdir": o.subdir,
        "always_copy": o.copy or None,
        "repodata_fns": _with_repodata_json(o.repodata_fn) if o.repodata_fn else None,
        "solver": o.solver,
        "use_index_cache": o.use_index_cache or None,
        "ssl_verify": False if o.insecure else None,
    }


def _with_repodata_json(names: Sequence[str]) -> list[str]:
    """conda's rule: repodata.json is always tried, last unless named before."""
    return list(names) if "repodata.json" in names else [*names, "repodata.json"]


def _exit_zero(error: OphisError, json_output: bool) -> NoReturn:
    """conda's CondaExitZero: the message on stderr (as JSON with --json), exit code 0."""
    if json_output:
        sys.stderr.write(json.dumps(error.to_json(), indent=2, sort_keys=True) + "\n")
    else:
        stderr.print(
            f"\n{error.exception_name}: {error.message}\n", highlight=False, soft_wrap=True
        )
    import typer

    raise typer.Exit(error.exit_code)


def _confirm_replacing(target: Path, o: ChangeOptions, config: Config) -> None:
    """conda's ``create`` over an existing environment: never in a dry run, else only
    after the user says so (the default answer is no)."""
    if o.dry_run or config.dry_run:
        raise CondaValueError(
            "Cannot `create --dry-run` with an existing conda environment",
            "Give another name, or remove the environment first ('ophis env remove').",
        )
    if o.yes or o.json_output or config.always_yes:
        return
    question = (
        f"WARNING: A conda environment already exists at '{target}'\n\n"
        "Remove existing environment?\nThis will remove ALL directories contained within "
        "this specified prefix directory, including any other conda environments.\n\n"
    )
    if not confirm_proceed(question, default=False):
        exit_declined()


def _plan(
    request: ChangeRequest, o: ChangeOptions, files: SpecFiles, config: Config
) -> ChangeOutcome:
    """Solve the request, or take exact records: a clone, a lock file, @EXPLICIT files."""
    from ophis.manager.operations import (
        TooManyArgumentsError,
        plan_change,
        plan_clone,
        plan_explicit,
        plan_locked,
    )

    exact = [
        flag
        for flag, given in (
            ("--clone", o.clone),
            ("--locked", o.locked),
            ("@EXPLICIT --file", files.explicit),
        )
        if given is not None
    ]
    others = [*(o.specs or ()), *files.specs, *exact[1:]]
    if exact and others:
        suffix = "s" if len(others) > 1 else ""
        why = f"did not expect any arguments for {exact[0]}"
        raise TooManyArgumentsError(
            f"{why} Got {len(others)} argument{suffix} ({', '.join(others)}) but expected 0.",
            f"{exact[0]} installs exact packages: give it alone, without package specs.",
            expected=0,
            received=len(others),
            offending_arguments=others,
            optional_message=why,
        )
    if o.clone is not None:
        source = resolve_prefix(*_name_or_path(o.clone), config, os.environ, creating=False)
        return plan_clone(request, source, config)
    if o.locked is not None:
        return plan_locked(request, o.locked, config)
    if files.explicit is not None:
        return plan_explicit(request, files.explicit, config)
    # conda's remove --all unlinks what is installed without a solve: no stage lines
    quiet_stages = o.json_output or o.all_packages
    human = None if quiet_stages else plan_report.ConsoleStages(o.quiet or config.quiet)
    return plan_change(request, config, os.environ, human)


def _name_or_path(source: str) -> tuple[str | None, str | None]:
    """conda's clone source: a path when it holds a path separator, else a name."""
    return (None, source) if os.sep in source or "/" in source else (source, None)


def _confirm_execute(
    request: ChangeRequest,
    outcome: ChangeOutcome,
    config: Config,
    yes: bool,
    json_output: bool,
    quiet: bool,
    download_only: bool = False,
) -> ChangeOutcome:
    from ophis.manager.download import DOWNLOAD_STAGE
    from ophis.manager.operations import apply_change, prepare_change

    if outcome.solution is None or request.dry_run:
        return outcome
    ask = not (yes or json_output)
    shown = not (quiet or json_output)
    if not json_output:
        _print_plan(outcome, config, with_link_scripts=False)
    with progress_bar("Installing", enabled=shown, bytes_stage=DOWNLOAD_STAGE) as progress:
        # before asking, the packages are fetched and checked, so that the question can
        # name the link scripts they carry (and a refused one stops here, unchanged)
        with plan_report.downloading(not shown):
            outcome = prepare_change(request, outcome, config, progress)
        with progress.paused():
            if not json_output and outcome.link_scripts.scripts:
                plan_report.write(f"{_link_scripts_line(outcome)}\n\n")
            if ask and not confirm_proceed():
                exit_declined()
        if download_only:
            _exit_zero(DownloadOnlyExit(), json_output)

        def confirm(messages: list[str]) -> bool:
            """conda's pre-link messages: shown after the download, asked about unless -y."""
            with progress.paused():
                _print_prelink_messages(messages)
                return confirm_proceed() if ask else True

        outcome = apply_change(request, outcome, config, progress, None if json_output else confirm)
    if outcome.declined:
        exit_declined()
    return outcome


def _print_prelink_messages(messages: list[str]) -> None:
    stdout.print("\n\nThe following PRELINK MESSAGES are INCLUDED:\n", highlight=False)
    for message in messages:
        stdout.print(indent(message, "  "), highlight=False, markup=False)


def _installed_names(prefix: Path) -> list[str]:
    from ophis.manager.prefix import PrefixData

    return sorted(PrefixData(prefix).records())


def _remove_environment(
    prefix: Path, o: ChangeOptions, config: Config, env: Mapping[str, str]
) -> None:
    """conda's end of ``remove --all``: with its packages gone, the folder itself (and what
    else is in it) goes after one more question, whose default is no."""
    import shutil

    from ophis.manager.environments import unregister_environment

    if not (o.json_output or o.yes or config.always_yes):
        question = (
            f"Everything found within the environment ({prefix}), including any conda "
            "environment configurations and any non-conda files, will be deleted. Do you "
            "wish to continue?\n"
        )
        if not confirm_proceed(question, default=False):
            exit_declined()
    shutil.rmtree(prefix, ignore_errors=True)
    unregister_environment(prefix, env)


def change_document(
    outcomes: list[ChangeOutcome], pip_installed: list[str] | None = None
) -> dict[str, Any]:
    """conda's ``--json`` report of one change (or of an env command's changes, as one
    transaction), with conda's keys in conda's order: ``actions`` holds ``FETCH`` (the
    records downloaded), ``PREFIX``, then ``UNLINK`` and ``LINK`` when not empty."""
    done = [o for o in outcomes if o.solution is not None]
    if not done and pip_installed is None:
        return {"success": True, "message": "All requested packages already installed."}
    first = outcomes[0]
    actions: dict[str, Any] = {
        "FETCH": [record_dump(r) for o in done for r in o.fetch],
        "PREFIX": str(first.prefix),
    }
    unlink = [dist_fields(r, o.channels) for o in done for r in o.solution.unlink]
    link = [dist_fields(r, o.channels) for o in done for r in o.solution.link]
    if unlink:
        actions["UNLINK"] = unlink
    if link:
        actions["LINK"] = link
    if pip_installed is not None:
        actions["PIP"] = pip_installed
    document: dict[str, Any] = {"success": True, "actions": actions}
    if first.clone_source is not None:  # conda's clone names both prefixes instead
        document.update(
            untracked_files=first.untracked,
            src_prefix=str(first.clone_source),
            dst_prefix=str(first.prefix),
        )
    else:
        document["prefix"] = str(first.prefix)
    if first.dry_run:
        document["dry_run"] = True
    # an Ophis key next to conda's: the packages whose link scripts the change runs
    document["link_scripts"] = [s.to_json() for o in done for s in o.link_scripts.scripts]
    unchecked = [name for o in done for name in o.link_scripts.unchecked]
    if unchecked:
        document["link_scripts_unchecked"] = unchecked
    messages = [m for o in done if o.report for m in o.report.prelink_messages + o.report.messages]
    if messages:
        document["messages"] = messages
    return document


def _report(
    outcome: ChangeOutcome, action: str, o: ChangeOptions, config: Config, print_json: bool
) -> None:
    json_output, quiet = o.json_output, o.quiet or config.quiet
    if outcome.warnings:  # warn() loads Rich
        warn(outcome.warnings)
    if outcome.recovered and not json_output:
        stderr.print(
            f"Rolled back an interrupted transaction in {outcome.prefix} before continuing.",
            highlight=False,
            soft_wrap=True,
        )
    if json_output:
        if print_json:
            emit_json(change_document([outcome]), sort_keys=False)
        return
    if outcome.solution is None:
        plan_report.write("\n# All requested packages already installed.\n\n")
        return
    if outcome.dry_run:
        _print_plan(outcome, config)
        plan_report.dry_run_exit()
        return
    for message in outcome.report.messages if outcome.report else []:
        stdout.print(message, highlight=False, markup=False)
    for warning in outcome.report.clobbered if outcome.report else []:
        stderr.print(f"[yellow]ClobberWarning:[/] {warning}", highlight=False, soft_wrap=True)
    plan_report.report_done_stages(quiet)


def print_activation_hint(o: ChangeOptions, config: Config, prefix: Path) -> None:
    """conda's hint after creating an environment (not with --json or -q)."""
    if not (o.json_output or o.quiet or config.quiet):
        plan_report.write(plan_report.activation_hint(o.name or str(prefix)))


def _print_clone(outcome: ChangeOutcome) -> None:
    """What conda's clone prints before its transaction."""
    solution = outcome.solution
    stdout.print(
        f"Source:      {outcome.clone_source}\nDestination: {outcome.prefix}\n"
        f"Packages: {len(solution.final) if solution else 0}\nFiles: {len(outcome.untracked)}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _link_scripts_line(outcome: ChangeOutcome) -> str:
    return f"\n  link scripts (run package code): {outcome.link_scripts.summary()}"


def _print_plan(outcome: ChangeOutcome, config: Config, *, with_link_scripts: bool = True) -> None:
    """conda's package plan; Ophis adds the link scripts when it knows them (a change names
    them after the download instead)."""
    assert outcome.solution is not None
    scripts = outcome.link_scripts
    listed = with_link_scripts and (scripts.scripts or scripts.unchecked)
    notes = (_link_scripts_line(outcome),) if listed else ()
    view = plan_report.PlanView(
        prefix=outcome.prefix,
        solution=outcome.solution,
        fetch=outcome.fetch,
        ctx=config.channel_context(),
        show_channel_urls=config.show_channel_urls,
        notes=notes,
    )
    plan_report.write(plan_report.package_plan(view))
