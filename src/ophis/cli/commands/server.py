"""``ophis server ...``: run the channel server and manage its accounts."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer

from ophis.cli.commands.server_cve import cve_app
from ophis.cli.commands.server_keys import keys_app
from ophis.cli.commands.server_notebooks import notebooks_app
from ophis.cli.commands.server_options import (
    CONFIG,
    DATA_DIR,
    DATABASE,
    JSON,
    S3_ENDPOINT,
    STORAGE,
    print_rows,
    server_session,
    server_settings,
)
from ophis.cli.output import emit_json, fail, stderr, stdout
from ophis.core.errors import OphisError
from ophis.server.settings import ServerSettings


def register(app: typer.Typer) -> None:
    server = typer.Typer(
        help="Run the channel server and manage its accounts.", no_args_is_help=True
    )
    server.command("start")(start)
    server.command("migrate")(migrate)
    server.command("export")(export)
    server.command("import")(import_)
    users = typer.Typer(help="User accounts.", no_args_is_help=True)
    users.command("create")(user_create)
    users.command("list")(user_list)
    users.command("disable")(user_disable)
    users.command("enable")(user_enable)
    users.command("password")(user_password)
    orgs = typer.Typer(help="Organizations.", no_args_is_help=True)
    orgs.command("create")(org_create)
    orgs.command("list")(org_list)
    orgs.command("add-member")(org_add_member)
    tokens = typer.Typer(help="API tokens (for administrators).", no_args_is_help=True)
    tokens.command("create")(token_create)
    server.add_typer(users, name="user")
    server.add_typer(orgs, name="org")
    server.add_typer(tokens, name="token")
    mirrors = typer.Typer(help="Mirror and proxy channels.", no_args_is_help=True)
    mirrors.command("add")(mirror_add)
    mirrors.command("list")(mirror_list)
    mirrors.command("sync")(mirror_sync)
    mirrors.command("remove")(mirror_remove)
    server.add_typer(mirrors, name="mirror")
    server.add_typer(keys_app(), name="keys")
    server.add_typer(cve_app(), name="cve")
    server.add_typer(notebooks_app(), name="notebooks")
    app.add_typer(server, name="server")


# --- start -------------------------------------------------------------------------------


def start(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8080, "--port", "-p", help="TCP port."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    storage_url: str = STORAGE,
    s3_endpoint_url: str = S3_ENDPOINT,
    download_redirect: bool = typer.Option(
        None,
        "--download-redirect/--no-download-redirect",
        help="Answer S3 downloads with presigned redirects, or stream them [default: redirect].",
        show_default=False,
    ),
    config: Path = CONFIG,
    workers: int = typer.Option(1, "--workers", "-w", help="Worker processes."),
    public_url: str = typer.Option(
        None, "--public-url", help="The URL clients use, when behind a proxy."
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning, error."),
    user_content_port: int = typer.Option(
        None,
        "--user-content-port",
        help="TCP port of deployments and notebooks, an origin apart from the site's "
        "[default: --port + 1].",
        show_default=False,
    ),
    no_signup: bool = typer.Option(
        False, "--no-signup", help="Let only administrators create accounts (no web sign-up)."
    ),
    as_json: bool = JSON,
) -> None:
    """Start the server (SQLite and local files by default; PostgreSQL and S3 with
    --database and --storage). On first start it creates an administrator
    ($OPHIS_ADMIN_USER / $OPHIS_ADMIN_PASSWORD, else admin and a generated password) whose
    namespace is the first channel. Every worker over the same database and storage serves
    the same answers."""
    import uvicorn

    from ophis.server.app import SETTINGS_ENV, create_app, settings_to_environment
    from ophis.server.context import ServerContext
    from ophis.server.logs import log_config
    from ophis.server.proxies import trusted_networks
    from ophis.server.services.admin.bootstrap import admin_from_environment, ensure_first_admin

    settings = server_settings(
        as_json,
        data_dir,
        database_url,
        config=config,
        storage_url=storage_url,
        s3_endpoint_url=s3_endpoint_url,
        download_redirect=download_redirect,
        public_url=public_url,
        allow_signup=False if no_signup else None,
        user_content_port=user_content_port,
    )
    try:
        trusted_networks(settings.trusted_proxies)  # a bad entry stops the start, named
        settings = _with_user_content_port(settings, port)
        context = ServerContext.open(settings)
        with context.sessions() as session:
            first = ensure_first_admin(session, settings.data_dir, *admin_from_environment())
        context.close()
    except OphisError as error:
        fail(error, as_json)
    root = (public_url or f"http://{_display_host(host)}:{port}").rstrip("/")
    _announce(root, settings, first, as_json)
    _warn_user_code_refused(settings)
    if workers > 1:
        os.environ[SETTINGS_ENV] = settings_to_environment(settings)
        target: Any = "ophis.server.app:app_from_environment"
        options: dict[str, Any] = {"factory": True, "workers": workers}
    else:
        target, options = create_app(settings, upgrade=False), {}
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1, where
    # notebooks and deployments connect from; the app trusts only settings.trusted_proxies
    config = uvicorn.Config(
        target,
        host=host,
        port=port,
        log_config=log_config(log_level),
        proxy_headers=False,
        **options,
    )
    _serve(config, settings.user_content_port)


def _with_user_content_port(settings: ServerSettings, port: int) -> ServerSettings:
    """The site's port, and the user-content port when deployments or notebooks are on."""
    serves_user_content = settings.notebooks_enabled or settings.deployments_enabled
    user_content_port = (settings.user_content_port or port + 1) if serves_user_content else None
    if user_content_port == port:
        raise OphisError(
            f"The user-content port is the site's port ({port}).",
            "Give --user-content-port another port: deployments and notebooks need an "
            "origin apart from the site's.",
        )
    return dataclasses.replace(settings, site_port=port, user_content_port=user_content_port)


def _serve(config: Any, user_content_port: int | None) -> None:
    """uvicorn on the site's port and the user-content port: one app, which tells the two
    apart by the port a request came in on."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    sockets = [config.bind_socket()]
    if user_content_port:
        second = uvicorn.Config(config.app, host=config.host, port=user_content_port)
        sockets.append(second.bind_socket())
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=sockets).run()
        else:
            uvicorn.Server(config).run(sockets=sockets)
    except KeyboardInterrupt:
        pass


def _warn_user_code_refused(settings: ServerSettings) -> None:
    """The server still serves packages; the user code it cannot isolate it will not run."""
    from ophis.server.services.hosting.os_users import refusals

    for error in refusals(settings):
        stderr.print(f"[bold red]Refused:[/] {error.message}\n{error.remedy}", highlight=False)
    from ophis.server.services.hosting.deployments import network_warning

    warning = network_warning(settings)
    if warning:
        stderr.print(f"[bold yellow]Warning:[/] {warning}", highlight=False)


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


def _user_content_url(root: str, settings: ServerSettings) -> str | None:
    if settings.user_content_url or not settings.user_content_port:
        return settings.user_content_url
    parts = urlsplit(root)
    return f"{parts.scheme}://{parts.hostname}:{settings.user_content_port}"


def _announce(root: str, settings: ServerSettings, first: Any, as_json: bool) -> None:
    facts = {
        "url": root,
        "api_url": f"{root}/api",
        "conda_url": f"{root}/conda",
        "user_content_url": _user_content_url(root, settings),
        "data_dir": str(settings.data_dir),
        "admin": first.login if first else None,
        "password": first.generated_password if first else None,
    }
    if as_json:
        emit_json(facts)
        sys.stdout.flush()
        return
    stdout.print(f"[bold]Ophis server[/] at {root}  (data in {settings.data_dir})", highlight=False)
    if first:
        password = first.generated_password or "the value of $OPHIS_ADMIN_PASSWORD"
        stdout.print(
            f"Created the administrator [bold]{first.login}[/] with password [bold]{password}[/]"
            + (
                f"\n(also kept in {settings.data_dir}/initial-admin-password)"
                if first.generated_password
                else ""
            ),
            highlight=False,
        )
    login = first.login if first else "<user>"
    stdout.print(
        "\nTry it:\n"
        f"  pip install anaconda-client\n"
        f"  anaconda config --set url {root}/api\n"
        f"  ANACONDA_CLIENT_FORCE_STANDALONE=1 anaconda login --username {login}\n"
        f"  ANACONDA_CLIENT_FORCE_STANDALONE=1 anaconda upload some-package.conda\n"
        f"  ophis create -n demo -c {root}/conda/{login} some-package\n",
        highlight=False,
    )
    sys.stdout.flush()


# --- schema, export and import ------------------------------------------------------------


def migrate(
    action: str = typer.Argument("upgrade", help="upgrade (to the newest schema) or status."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """Upgrade the database's schema, or show where it stands. Run once before starting a
    new version on several machines (each `ophis server start` also upgrades)."""
    from ophis.server.db.engine import migrate as upgrade
    from ophis.server.db.engine import schema_status

    if action not in ("upgrade", "status"):
        fail(OphisError(f"Unknown action {action!r}.", "Use upgrade or status."), as_json)
    settings = server_settings(as_json, data_dir, database_url, config=config)
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # where SQLite's file goes
    try:
        before = schema_status(settings.database)
        if action == "upgrade" and before.pending:
            upgrade(settings.database)
    except Exception as error:  # the driver's own errors: unreachable host, bad password
        cause = getattr(error, "orig", None) or error
        message = f"Cannot use the database {_redacted(settings.database)}: {cause}"
        fail(OphisError(message, _DB_HINT), as_json)
    facts = {
        "database": _redacted(settings.database),
        "current": before.head if action == "upgrade" else before.current,
        "head": before.head,
        "pending": [] if action == "upgrade" else before.pending,
        "applied": before.pending if action == "upgrade" else [],
    }
    _show(facts, as_json)


_DB_HINT = "Check --database (or $OPHIS_DATABASE_URL) and that the database server is running."


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def export(
    target: Path = typer.Argument(..., help="The file to write (a tar archive)."),
    files: bool = typer.Option(
        False, "--files", help="Include the package files (needed when the storage changes)."
    ),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    storage_url: str = STORAGE,
    s3_endpoint_url: str = S3_ENDPOINT,
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """Write the whole server (every account, token hash, package, label, statistic and
    setting; with --files the package files too) to one file, for a backup or a move to
    another database or storage (`ophis server import`)."""
    from ophis.server.services.admin.transfer import export_server

    def run(context: Any, progress: Any) -> Any:
        url = context.settings.database
        return export_server(
            context.engine, context.storage, url, target.absolute(), files=files, progress=progress
        )

    where = (data_dir, database_url, storage_url, s3_endpoint_url, config)
    _show(_summary_facts(_transfer(run, as_json, *where), target), as_json)


def import_(
    source: Path = typer.Argument(..., help="A file written by `ophis server export`."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    storage_url: str = STORAGE,
    s3_endpoint_url: str = S3_ENDPOINT,
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """Load an export into a new, empty server (before its first start): for example
    SQLite and local files into PostgreSQL and S3. All or nothing: rows are checked
    against the export's manifest before they are committed."""
    from ophis.server.services.admin.transfer import import_server

    def run(context: Any, progress: Any) -> Any:
        url = context.settings.database
        return import_server(
            context.engine, context.storage, url, source.absolute(), progress=progress
        )

    where = (data_dir, database_url, storage_url, s3_endpoint_url, config)
    _show(_summary_facts(_transfer(run, as_json, *where), source), as_json)


def _transfer(
    run: Any,
    as_json: bool,
    data_dir: Path | None,
    database_url: str | None,
    storage_url: str | None,
    s3_endpoint_url: str | None,
    config: Path | None,
) -> Any:
    """``run(context, progress)`` on the server these options name, with a progress bar."""
    from rich.progress import Progress

    from ophis.server.context import ServerContext

    settings = server_settings(
        as_json,
        data_dir,
        database_url,
        config=config,
        storage_url=storage_url,
        s3_endpoint_url=s3_endpoint_url,
    )
    try:
        context = ServerContext.open(settings)
    except OphisError as error:
        fail(error, as_json)
    try:
        with Progress(console=stderr.console, transient=True, disable=as_json) as bar:
            tasks: dict[str, Any] = {}

            def progress(what: str, done: int, total: int) -> None:
                if what not in tasks:
                    tasks[what] = bar.add_task(what, total=total or None)
                bar.update(tasks[what], completed=done, total=total or None)

            return run(context, progress)
    except OphisError as error:
        fail(error, as_json)
    finally:
        context.close()


def _summary_facts(summary: Any, path: Path) -> dict[str, Any]:
    return {
        "file": str(path),
        "schema": summary.schema,
        "rows": sum(summary.rows.values()),
        "tables": summary.rows,
        "files": summary.files,
        "bytes": summary.bytes,
    }


# --- users, organizations, tokens ----------------------------------------------------------


def _password(password: str | None, generate: bool) -> tuple[str, bool]:
    from ophis.server.services.accounts.accounts import generate_password

    if password:
        return password, False
    if generate or not sys.stdin.isatty():
        return generate_password(), True
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True), False


def user_create(
    login: str = typer.Argument(..., help="The new user's login (also their channel's name)."),
    password: str = typer.Option(
        None, "--password", envvar="OPHIS_NEW_PASSWORD", help="Else prompted (or generated)."
    ),
    generate_password: bool = typer.Option(False, "--generate-password", help="Generate one."),
    email: str = typer.Option("", "--email"),
    superuser: bool = typer.Option(False, "--superuser", help="Administer the whole server."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    as_json: bool = JSON,
) -> None:
    """Create a user."""
    from ophis.server.services.accounts.accounts import create_user

    secret, generated = _password(password, generate_password)
    with server_session(data_dir, database_url, as_json) as session:
        user = create_user(session, login, secret, email=email, superuser=superuser)
    facts = {"login": user.login, "superuser": user.is_superuser}
    if generated:
        facts["password"] = secret
    _show(facts, as_json)


def user_list(
    data_dir: Path = DATA_DIR, database_url: str = DATABASE, as_json: bool = JSON
) -> None:
    """List users."""
    from ophis.server.services.accounts.accounts import list_accounts

    with server_session(data_dir, database_url, as_json) as session:
        rows = [
            {
                "login": a.login,
                "superuser": a.is_superuser,
                "disabled": a.is_disabled,
                "created_at": a.created_at.isoformat(),
            }
            for a in list_accounts(session, "user")
        ]
    print_rows(rows, as_json)


def _set_disabled(
    login: str, disabled: bool, data_dir: Path | None, url: str | None, as_json: bool
) -> None:
    from ophis.server.services.accounts.accounts import set_disabled

    with server_session(data_dir, url, as_json) as session:
        account = set_disabled(session, login, disabled)
    _show({"login": account.login, "disabled": account.is_disabled}, as_json)


def user_disable(
    login: str, data_dir: Path = DATA_DIR, database_url: str = DATABASE, as_json: bool = JSON
) -> None:
    """Disable a user: their logins and tokens stop working; their packages stay."""
    _set_disabled(login, True, data_dir, database_url, as_json)


def user_enable(
    login: str, data_dir: Path = DATA_DIR, database_url: str = DATABASE, as_json: bool = JSON
) -> None:
    """Enable a disabled user again."""
    _set_disabled(login, False, data_dir, database_url, as_json)


def user_password(
    login: str,
    password: str = typer.Option(None, "--password", envvar="OPHIS_NEW_PASSWORD"),
    generate_password: bool = typer.Option(False, "--generate-password"),
    revoke_tokens: bool = typer.Option(
        True,
        "--revoke-tokens/--keep-tokens",
        help="Revoke the user's API tokens too (whoever knew the old password may have made some).",
    ),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    as_json: bool = JSON,
) -> None:
    """Set a user's password; they are signed out of every browser."""
    from ophis.server.services.accounts.accounts import get_account
    from ophis.server.services.accounts.web_sessions import password_changed

    secret, generated = _password(password, generate_password)
    with server_session(data_dir, database_url, as_json) as session:
        revoked = password_changed(session, get_account(session, login), secret, revoke_tokens)
    facts = {"login": login, "revoked_tokens": revoked}
    _show({**facts, **({"password": secret} if generated else {})}, as_json)


def org_create(
    login: str = typer.Argument(..., help="The organization's name (also its channel's name)."),
    owner: str = typer.Option(..., "--owner", help="A user who becomes its first owner."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    as_json: bool = JSON,
) -> None:
    """Create an organization."""
    from ophis.server.services.accounts.accounts import create_org, get_account

    with server_session(data_dir, database_url, as_json) as session:
        org = create_org(session, login, get_account(session, owner))
    _show({"login": org.login, "owner": owner}, as_json)


def org_list(data_dir: Path = DATA_DIR, database_url: str = DATABASE, as_json: bool = JSON) -> None:
    """List organizations."""
    from ophis.server.services.accounts.accounts import list_accounts

    with server_session(data_dir, database_url, as_json) as session:
        rows = [
            {"login": a.login, "created_at": a.created_at.isoformat()}
            for a in list_accounts(session, "org")
        ]
    print_rows(rows, as_json)


def org_add_member(
    org: str,
    user: str,
    group: str = typer.Option("owners", "--group", help="The group to add the user to."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    as_json: bool = JSON,
) -> None:
    """Add a user to one of an organization's groups."""
    from ophis.server.services.accounts.accounts import add_member, get_account

    with server_session(data_dir, database_url, as_json) as session:
        add_member(session, get_account(session, org), group, get_account(session, user))
    _show({"org": org, "group": group, "user": user}, as_json)


def token_create(
    login: str = typer.Argument(..., help="The user the token acts as."),
    name: str = typer.Option(..., "--name", help="A name to list and revoke it by."),
    scopes: list[str] = typer.Option([], "--scopes", "-s", help="Scopes [default: all]."),
    max_age: int = typer.Option(None, "--max-age", help="Lifetime in seconds."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    as_json: bool = JSON,
) -> None:
    """Create a token for a user (printed once; only its hash is kept)."""
    from ophis.server.services.accounts.accounts import get_account
    from ophis.server.services.accounts.authz import password_principal
    from ophis.server.services.accounts.tokens import create_token

    with server_session(data_dir, database_url, as_json) as session:
        # the operator acts as the user would with their password: no broader than that
        user = password_principal(get_account(session, login))
        token, secret = create_token(session, user, name, scopes=scopes, max_age=max_age)
    _show(
        {
            "token": secret,
            "name": token.name,
            "scopes": token.scopes,
            "expires": token.expires_at.isoformat() if token.expires_at else None,
        },
        as_json,
    )


# --- mirror and proxy channels ------------------------------------------------------------


def _owner_label(target: str) -> tuple[str, str | None]:
    owner, _, label = target.partition("/")
    return owner, label or None


def mirror_add(
    target: str = typer.Argument(..., help="OWNER or OWNER/LABEL: the channel that follows."),
    upstream: str = typer.Argument(..., help="The upstream channel URL (http(s):// or file://)."),
    proxy: bool = typer.Option(
        False, "--proxy", help="Fetch files on first request instead of syncing on a schedule."
    ),
    subdirs: list[str] = typer.Option([], "--subdir", "-s", help="Subdirs [default: all]."),
    include: list[str] = typer.Option([], "--include", help="Match specs to keep."),
    exclude: list[str] = typer.Option([], "--exclude", help="Match specs to leave out."),
    licenses: list[str] = typer.Option([], "--license", help="License globs to keep."),
    newest: int = typer.Option(None, "--newest", help="Keep the N newest versions per package."),
    keep_removed: bool = typer.Option(False, "--keep-removed", help="Keep what upstream drops."),
    interval: int = typer.Option(
        3600, "--interval", help="Seconds between syncs (a proxy: its repodata's freshness)."
    ),
    token: str = typer.Option(
        None, "--token", envvar="OPHIS_UPSTREAM_TOKEN", help="A token for the upstream."
    ),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    as_json: bool = JSON,
) -> None:
    """Make a label of a channel a mirror (or --proxy) of an upstream channel. The server
    syncs it on schedule; `ophis server mirror sync` syncs it now."""
    from ophis.server.services.channels.mirror_channels import MirrorRequest, add_mirror, describe

    owner, label = _owner_label(target)
    request = MirrorRequest(
        owner=owner,
        upstream=upstream,
        label=label or "main",
        mode="proxy" if proxy else "mirror",
        subdirs=tuple(subdirs),
        include=tuple(include),
        exclude=tuple(exclude),
        licenses=tuple(licenses),
        newest=newest,
        keep_removed=keep_removed,
        interval_seconds=interval,
        token=token,
    )
    with server_session(data_dir, database_url, as_json) as session:
        facts = describe(add_mirror(session, None, request))
    _show(facts, as_json)


def mirror_list(
    owner: str = typer.Argument(None, help="One owner's [default: every owner's]."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    as_json: bool = JSON,
) -> None:
    """List mirror and proxy channels with their last sync (tokens are never shown)."""
    from ophis.server.services.channels.mirror_channels import describe, list_mirrors

    with server_session(data_dir, database_url, as_json) as session:
        rows = [describe(row) for row in list_mirrors(session, owner)]
    if as_json:
        emit_json(rows)
        return
    keys = ("owner", "label", "mode", "upstream", "last_sync_at", "last_status")
    print_rows([{key: row[key] for key in keys} for row in rows], as_json)


def mirror_sync(
    target: str = typer.Argument(None, help="OWNER or OWNER/LABEL [default: with --all]."),
    every: bool = typer.Option(False, "--all", help="Sync every mirror channel."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    storage_url: str = STORAGE,
    s3_endpoint_url: str = S3_ENDPOINT,
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """Sync mirror channels now (a mirror another worker is syncing is skipped). Exit code
    1 when a sync failed, wholly or for some files."""
    from ophis.server.services.channels.mirror_channels import sync_named

    if target is None and not every:
        fail(
            OphisError(
                "Name a mirror channel, or give --all.", "Give OWNER or OWNER/LABEL, or --all."
            ),
            as_json,
        )
    owner, label = _owner_label(target) if target else (None, None)

    def run(context: Any, _progress: Any) -> Any:
        return sync_named(context, owner, label)

    where = (data_dir, database_url, storage_url, s3_endpoint_url, config)
    rows = _transfer(run, as_json, *where)
    failed = any(r["status"] == "failed" for r in rows)
    if as_json:
        emit_json(rows)
    else:
        for r in rows:
            what = (
                "synced by another worker"
                if r["status"] == "busy"
                else r.get("error")
                or f"{r['files']} files, {r['bytes']} bytes, "
                f"{r['removed']} removed, {r['failure_count']} failed"
            )
            stdout.print(f"{r['owner']}/{r['label']}: {r['status']} ({what})", highlight=False)
            for failure in r.get("failures") or []:
                where = "/".join(filter(None, (failure["subdir"], failure["filename"])))
                stderr.print(f"  {where}: {failure['error']}")
    if failed:
        raise typer.Exit(1)


def mirror_remove(
    target: str = typer.Argument(..., help="OWNER or OWNER/LABEL."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    as_json: bool = JSON,
) -> None:
    """Stop following the upstream; the files the label holds stay."""
    from ophis.server.services.channels.mirror_channels import remove_mirror

    owner, label = _owner_label(target)
    with server_session(data_dir, database_url, as_json) as session:
        remove_mirror(session, None, owner, label or "main")
    _show({"owner": owner, "label": label or "main", "removed": True}, as_json)


def _show(facts: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(facts)
        return
    for key, value in facts.items():
        stdout.print(f"{key}: {value}", highlight=False)
