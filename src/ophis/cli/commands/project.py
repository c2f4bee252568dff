"""``ophis project``: a folder with a manifest, a lock file and tasks (pixi's model), and
``ophis deployment``: projects served by an Ophis server."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from ophis.cli.commands.shell import ophis_command
from ophis.cli.output import emit_json, fail, stderr, stdout
from ophis.cli.remote import JSON, OWNER, SERVER, connect, say, show_facts, show_table
from ophis.core.errors import OphisError

PATH = typer.Option(Path("."), "--path", help="The project folder (default: here).")
DEPLOYMENT = typer.Argument(..., help="The deployment's name.")


def register(app: typer.Typer) -> None:
    project = typer.Typer(help="Projects: a manifest, a lock file and tasks.", no_args_is_help=True)
    project.command("init")(init)
    project.command("lock")(lock)
    project.command("install")(install)
    project.command(
        "run", context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True}
    )(run)
    project.command("list-commands")(list_commands)
    project.command("templates")(templates)
    project.command("deploy")(deploy)
    project.command("upload")(upload)
    app.add_typer(project, name="project")
    deployment = typer.Typer(help="Projects deployed to an Ophis server.", no_args_is_help=True)
    deployment.command("list")(deployment_list)
    deployment.command("show")(deployment_show)
    deployment.command("logs")(deployment_logs)
    deployment.command("stop")(deployment_stop)
    deployment.command("start")(deployment_start)
    deployment.command("remove")(deployment_remove)
    deployment.command("access")(deployment_access)
    tokens = typer.Typer(help="Tokens that call a deployment.", no_args_is_help=True)
    tokens.command("create")(deployment_token_create)
    deployment.add_typer(tokens, name="token")
    app.add_typer(deployment, name="deployment")


def _manifest(path: Path, as_json: bool) -> Any:
    from ophis.project.manifest import find_manifest, load_manifest

    try:
        return load_manifest(find_manifest(path))
    except OphisError as error:
        fail(error, as_json)


def _config() -> Any:
    from ophis.manager.config import load_config_from_os

    return load_config_from_os()


# --- the project -------------------------------------------------------------------------


def init(
    folder: Path = typer.Argument(Path("."), help="Where to make the project."),
    template: str = typer.Option("python", "--template", "-t", help="A template's name."),
    name: str = typer.Option(None, "--name", help="The project's name (default: the folder's)."),
    channels: list[str] = typer.Option([], "--channel", "-c", help="A channel (repeatable)."),
    platforms: list[str] = typer.Option([], "--platform", help="A platform (repeatable)."),
    server: str = SERVER,
    as_json: bool = JSON,
) -> None:
    """Make a project from a template: one that ships with Ophis (see `ophis project
    templates`), or OWNER/NAME[/VERSION] uploaded to a server (`ophis project upload`)."""
    from ophis.project.templates import init_from_archive, init_project

    try:
        if "/" in template:
            archive = _fetch_template(template, server, as_json)
            manifest = init_from_archive(folder, archive, template)
        else:
            manifest = init_project(
                folder, template, name=name, channels=channels, platforms=platforms
            )
    except OphisError as error:
        fail(error, as_json)
    if as_json:
        emit_json({"success": True, "manifest": str(manifest), "template": template})
    else:
        say(f"Made a {template} project: {manifest}")


def templates(as_json: bool = JSON) -> None:
    """The project templates that ship with Ophis."""
    from ophis.project.templates import template_names

    names = template_names()
    if as_json:
        emit_json(names)
    else:
        for name in names:
            say(name)


def lock(path: Path = PATH, as_json: bool = JSON) -> None:
    """Solve the manifest's dependencies for each of its platforms; write ophis.lock."""
    from ophis.project.workspace import lock as lock_project

    manifest = _manifest(path, as_json)
    try:
        lock_project(manifest, _config(), os.environ)
    except OphisError as error:
        fail(error, as_json)
    if as_json:
        emit_json({"success": True, "lockfile": str(manifest.lock_path)})
    else:
        say(f"Wrote {manifest.lock_path}")


def install(
    path: Path = PATH,
    locked: bool = typer.Option(False, "--locked", help="Refuse to change the lock file."),
    as_json: bool = JSON,
) -> None:
    """Make the project's environment hold what its lock file pins (locking first if the
    lock does not satisfy the manifest)."""
    from ophis.project.workspace import prepare

    manifest = _manifest(path, as_json)
    try:
        done = prepare(manifest, _config(), os.environ, locked=locked)
    except OphisError as error:
        fail(error, as_json)
    facts = {"prefix": str(done.prefix), "locked": done.locked, "installed": done.installed}
    if as_json:
        emit_json({"success": True, **facts})
    else:
        say(f"The environment is ready: {done.prefix}")


def run(
    task: str = typer.Argument(..., help="The task (see `ophis project list-commands`)."),
    args: list[str] = typer.Argument(None, help="More arguments for the task."),
    path: Path = PATH,
    locked: bool = typer.Option(False, "--locked", help="Refuse to change the lock file."),
) -> None:
    """Run a task in the project's environment (made and locked on first use)."""
    from ophis.manager.activation import execute_run_script
    from ophis.project.workspace import prepare, project_environ, task_script

    manifest = _manifest(path, False)
    try:
        manifest.task(task)
        config = _config()
        prepare(manifest, config, os.environ, locked=locked)
        environ = project_environ(manifest, os.environ)
        script = task_script(manifest, task, args or [], config, environ, ophis_command())
        result = execute_run_script(script, environ, manifest.root, capture=False)
    except OphisError as error:
        fail(error, False)
    raise typer.Exit(result.returncode)


def list_commands(path: Path = PATH, as_json: bool = JSON) -> None:
    """The project's tasks."""
    manifest = _manifest(path, as_json)
    rows = [
        {"name": t.name, "cmd": t.cmd, "description": t.description}
        for t in manifest.tasks.values()
    ]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        stdout.print(f"[bold]{row['name']}[/]  {row['description'] or row['cmd']}", soft_wrap=True)


def _fetch_template(template: str, server: str | None, as_json: bool) -> bytes:
    """The newest (or the named version's) project archive of OWNER/NAME on the server."""
    from rattler import Version

    from ophis.client.api import Spec

    spec = Spec.parse(template).require("package")
    with connect(_api(server), as_json) as api:
        files = [f for f in api.package(spec)["files"] if f["distribution_type"] == "project"]
        if spec.version:
            files = [f for f in files if f["version"] == spec.version]
        if not files:
            raise OphisError(
                f"{spec.owner}/{spec.package} has no project template"
                + (f" version {spec.version}." if spec.version else "."),
                "Upload one with `ophis project upload`, or check the name.",
            )
        newest = max(files, key=lambda f: Version(f["version"]))
        with api.download(newest) as response:
            return response.read()


def upload(
    path: Path = PATH,
    server: str = SERVER,
    owner: str = OWNER,
    labels: list[str] = typer.Option([], "--label", "-l", help="Upload under this label."),
    as_json: bool = JSON,
) -> None:
    """Upload the project as a template others can start from (`ophis project init
    --template OWNER/NAME`); its manifest needs a version."""
    import tempfile

    from ophis.client.upload import UploadOptions, describe, upload_files
    from ophis.core.project_archive import archive_name, make_archive

    manifest = _manifest(path, as_json)
    if not manifest.version:
        fail(
            OphisError(
                f"{manifest.path.name} has no version.",
                'Add version = "1.0" under [workspace]; each upload is one version.',
            ),
            as_json,
        )
    with tempfile.TemporaryDirectory(prefix="ophis-project-") as scratch:
        archive = Path(scratch) / archive_name(manifest.name, manifest.version)
        archive.write_bytes(make_archive(manifest.root))
        with connect(_api(server), as_json) as api:
            dist = describe(archive)
            report = upload_files(api, [dist], owner, UploadOptions(labels=tuple(labels)))
    if report.failed:
        fail(report.failed[0][1], as_json)
    [done] = report.done
    facts = {"name": manifest.name, "version": manifest.version, "owner": done.owner}
    facts["template"] = f"{done.owner}/{manifest.name}"
    facts["status"] = done.status
    show_facts(facts, as_json)


# --- deployments ----------------------------------------------------------------------


def _api(server: str | None) -> str | None:
    """``--server`` as the server's root URL works too (its API is <root>/api)."""
    if server and "://" in server and not server.rstrip("/").endswith("/api"):
        return server.rstrip("/") + "/api"
    return server


def deploy(
    name: str = typer.Option(None, "--name", help="The deployment's name (default: project)."),
    path: Path = PATH,
    server: str = SERVER,
    owner: str = OWNER,
    public: bool = typer.Option(None, "--public/--private", help="Anyone may call it."),
    users: list[str] = typer.Option(None, "--user", help="A user who may call it."),
    groups: list[str] = typer.Option(None, "--group", help="An ORG/GROUP that may call it."),
    as_json: bool = JSON,
) -> None:
    """Upload the project; the server installs its locked environment and serves its
    `serve` task under <root>/deployments/<owner>/<name>/."""
    from ophis.core.project_archive import make_archive
    from ophis.project.workspace import lock as lock_project
    from ophis.project.workspace import lock_is_current

    manifest = _manifest(path, as_json)
    config = _config()
    try:
        manifest.task("serve")
        if not lock_is_current(manifest, config):
            lock_project(manifest, config, os.environ)  # the solver's explanation on failure
    except OphisError as error:
        fail(error, as_json)
    params: dict[str, Any] = {"user": users or None, "group": groups or None}
    if public is not None:
        params["public"] = str(public).lower()
    archive = make_archive(manifest.root)
    if not as_json:
        stderr.print(f"Deploying {manifest.name} ({len(archive):,} bytes)...")
    with connect(_api(server), as_json) as api:
        login = api.login_name(owner)
        shown = api.call(
            "POST",
            f"/deployments/{login}/{name or manifest.name}",
            201,
            content=archive,
            params={k: v for k, v in params.items() if v is not None},
            headers={"Content-Type": "application/gzip"},
            timeout=600,
        )
    show_facts(shown, as_json)


def _deployment_call(
    server: str | None, owner: str | None, as_json: bool, method: str, suffix: str, **kw: Any
) -> Any:
    with connect(_api(server), as_json) as api:
        login = api.login_name(owner)
        status = kw.pop("status", 200)
        return api.call(method, f"/deployments/{login}{suffix}", status, **kw)


_COLUMNS = ("name", "status", "public", "restarts", "url")


def deployment_list(server: str = SERVER, owner: str = OWNER, as_json: bool = JSON) -> None:
    """Your deployments (or an organization's)."""
    show_table(_deployment_call(server, owner, as_json, "GET", ""), _COLUMNS, as_json)


def deployment_show(
    name: str = DEPLOYMENT, server: str = SERVER, owner: str = OWNER, as_json: bool = JSON
) -> None:
    show_facts(_deployment_call(server, owner, as_json, "GET", f"/{name}"), as_json)


def deployment_logs(
    name: str = DEPLOYMENT,
    lines: int = typer.Option(200, "--lines", "-n", help="How many of the last lines."),
    server: str = SERVER,
    owner: str = OWNER,
) -> None:
    """The deployment's output (every run, restarts included)."""
    with connect(_api(server), False) as api:
        login = api.login_name(owner)
        with api.reaching():
            response = api.http.get(f"/deployments/{login}/{name}/logs", params={"lines": lines})
        if response.status_code != 200:
            from ophis.client.api import error_for

            fail(error_for(response, api.token), False)
    sys.stdout.write(response.text + ("\n" if response.text else ""))


def deployment_stop(
    name: str = DEPLOYMENT, server: str = SERVER, owner: str = OWNER, as_json: bool = JSON
) -> None:
    show_facts(_deployment_call(server, owner, as_json, "POST", f"/{name}/stop"), as_json)


def deployment_start(
    name: str = DEPLOYMENT, server: str = SERVER, owner: str = OWNER, as_json: bool = JSON
) -> None:
    show_facts(
        _deployment_call(server, owner, as_json, "POST", f"/{name}/start", timeout=600), as_json
    )


def deployment_remove(
    name: str = DEPLOYMENT, server: str = SERVER, owner: str = OWNER, as_json: bool = JSON
) -> None:
    """Stop the deployment and delete it with its files and logs."""
    with connect(_api(server), as_json) as api:
        login = api.login_name(owner)
        with api.reaching():
            response = api.http.delete(f"/deployments/{login}/{name}")
        if response.status_code != 204:
            from ophis.client.api import error_for

            fail(error_for(response, api.token), as_json)
    if as_json:
        emit_json({"success": True, "removed": f"{login}/{name}"})
    else:
        say(f"Removed {login}/{name}.")


def deployment_access(
    name: str = DEPLOYMENT,
    public: bool = typer.Option(None, "--public/--private", help="Anyone may call it."),
    users: list[str] = typer.Option(None, "--user", help="Users who may call it (replaces)."),
    groups: list[str] = typer.Option(None, "--group", help="ORG/GROUPs (replaces)."),
    server: str = SERVER,
    owner: str = OWNER,
    as_json: bool = JSON,
) -> None:
    """Change who may call the deployment."""
    body = {"public": public, "users": users, "groups": groups}
    shown = _deployment_call(server, owner, as_json, "PATCH", f"/{name}", json=body)
    show_facts(shown, as_json)


def deployment_token_create(
    name: str = DEPLOYMENT,
    token_name: str = typer.Option(..., "--name", help="The token's name."),
    expires: str = typer.Option(None, "--expires", help="Lifetime: 3600, 90m, 12h, 30d."),
    server: str = SERVER,
    owner: str = OWNER,
    as_json: bool = JSON,
) -> None:
    """A token that calls this deployment only (scope deployment:invoke); shown once."""
    seconds = _seconds(expires, as_json) if expires else None
    body = {"name": token_name, "expires_in_seconds": seconds}
    made = _deployment_call(
        server, owner, as_json, "POST", f"/{name}/tokens", status=201, json=body
    )
    if as_json:
        emit_json(made)
    else:
        say(made["token"])


def _seconds(text: str, as_json: bool) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    try:
        seconds = int(value) * units[unit]
        if seconds <= 0:
            raise ValueError
    except ValueError:
        fail(
            OphisError(f"--expires {text!r} is not a lifetime.", "Write 3600, 90m, 12h or 30d."),
            as_json,
        )
    return seconds
