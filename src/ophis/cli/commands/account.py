"""``ophis login|logout|whoami``, ``ophis token ...`` and ``ophis org ...``: your account on
a channel server (Ophis or Anaconda.org), through the API the ``anaconda`` client uses."""

from __future__ import annotations

import getpass
import os
import re
import sys
from pathlib import Path

import typer

from ophis.cli.output import emit_json, fail
from ophis.cli.remote import JSON, SERVER, connect, say, show_facts, show_table
from ophis.client import credentials
from ophis.client.api import ApiError
from ophis.client.credentials import ClientConfig, CredentialsError
from ophis.core.errors import OphisError

_DURATION = re.compile(r"^(\d+)([smhdw]?)$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def register(app: typer.Typer) -> None:
    app.command("login")(login)
    app.command("logout")(logout)
    app.command("whoami")(whoami)
    token = typer.Typer(help="Your API tokens on the server.", no_args_is_help=True)
    token.command("create")(token_create)
    token.command("list")(token_list)
    token.command("revoke")(token_revoke)
    app.add_typer(token, name="token")
    org = typer.Typer(help="Organizations on the server.", no_args_is_help=True)
    org.command("list")(org_list)
    org.command("show")(org_show)
    org.command("members")(org_members)
    org.command("add-member")(org_add_member)
    org.command("remove-member")(org_remove_member)
    app.add_typer(org, name="org")


# --- login, logout, whoami ------------------------------------------------------------------


def login(
    url: str = typer.Argument(
        None, help="The server: its root (http://host:8080) or API URL (default: the --server's)."
    ),
    username: str = typer.Option(None, "--username", "-u", help="Else asked for."),
    server: str = typer.Option(
        None, "--server", "-s", help="A name for this server (default: its host:port)."
    ),
    as_json: bool = JSON,
) -> None:
    """Log in to a channel server; it becomes the default.

    The password is asked for without echo (read from stdin when that is not a terminal).
    The token is kept in your keyring, or else in a file only you can read, and in
    anaconda-client's token file: `ophis install -c <root>/conda/<owner>` of a private
    channel and the `anaconda` client work at once, with no token in the URL."""
    try:
        config = ClientConfig.load(os.environ)
        target = credentials.login_target(config, url, server)
        user = username or target.username or _ask("Username")
        done = credentials.login(config, target, user, _password(user), os.environ)
    except OphisError as error:
        fail(error, as_json)
    where = {credentials.KEYRING: "your keyring", credentials.FILE: "a file only you can read"}
    facts = {
        "server": done.name,
        "url": done.url,
        "login": done.username,
        "token_store": done.token_store,
    }
    if as_json:
        emit_json(facts)
        return
    say(f"Logged in to {done.url} as {done.username} (server '{done.name}', the default now).")
    say(f"The token is kept in {where[done.token_store]} and where conda looks for it.")


def _ask(what: str) -> str:
    if not sys.stdin.isatty():
        raise CredentialsError(f"No {what.lower()} given.", "Pass --username.")
    return typer.prompt(what)


def _password(username: str) -> str:
    """Asked for without echo on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        return getpass.getpass(f"Password for {username}: ")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CredentialsError(
            "No password on stdin.", "Pipe it in (`ophis login ... < file`) or use a terminal."
        )
    return password


def logout(server: str = SERVER, as_json: bool = JSON) -> None:
    """Log out: revoke the token on the server and forget it here and in conda's file."""
    try:
        config = ClientConfig.load(os.environ)
        target = config.resolve(server)
        credentials.logout(config, target, os.environ)
    except OphisError as error:
        fail(error, as_json)
    if as_json:
        emit_json({"server": target.name, "url": target.url, "logged_out": True})
        return
    say(f"Logged out of {target.url}.")


def whoami(server: str = SERVER, as_json: bool = JSON) -> None:
    """Who you are logged in as."""
    with connect(server, as_json) as api:
        if api.token is None:
            raise CredentialsError(f"Not logged in to {api.url}.", "Log in with `ophis login`.")
        user = api.user()
    show_facts(
        {
            "login": user["login"],
            "name": user.get("name"),
            "user_type": user.get("user_type"),
            "created_at": user.get("created_at"),
            "url": api.url,
        },
        as_json,
    )


# --- tokens ----------------------------------------------------------------------------------


def token_create(
    name: str = typer.Option(..., "--name", "-n", help="A name to list and revoke it by."),
    scopes: list[str] = typer.Option(
        [], "--scope", help="What it may do, e.g. conda:download, api:read (default: all)."
    ),
    expires: str = typer.Option(
        None, "--expires", help="Lifetime: seconds, or 30m, 12h, 7d, 2w (default: never)."
    ),
    org: str = typer.Option(None, "--org", help="A token acting within this organization."),
    out: Path = typer.Option(
        None, "--out", help="Write the token to this file (readable only by you), not stdout."
    ),
    server: str = SERVER,
    as_json: bool = JSON,
) -> None:
    """Create a token, shown once (the server keeps only its hash).

    Use it with ANACONDA_API_TOKEN=... or /t/<token>/ in a channel URL."""
    body = {
        "note": name,
        "scopes": scopes or None,
        "max-age": _seconds(expires, as_json),
        "user": org,
        "strength": "strong",
        "fail-if-exists": True,
    }
    with connect(server, as_json) as api:
        try:
            made = api.create_token(body)
        except ApiError as error:
            if error.status != 400:
                raise
            raise ApiError(
                error.message, f"Revoke it with `ophis token revoke {name}`, or pick another name."
            ) from None
        if out:
            credentials.write_private(out, made["token"])
    facts = {k: made.get(k) for k in ("name", "scopes", "expires", "org")}
    if as_json:
        emit_json({**facts, **({"file": str(out)} if out else {"token": made["token"]})})
    elif out:
        say(f"Created the token '{name}' (scopes: {', '.join(made['scopes'])}) in {out}.")
    else:
        sys.stdout.write(made["token"] + "\n")


def _seconds(expires: str | None, as_json: bool) -> int | None:
    if expires is None:
        return None
    match = _DURATION.match(expires.strip().lower())
    if not match or int(match.group(1)) == 0:
        fail(
            CredentialsError(
                f"'{expires}' is not a lifetime.", "Give seconds (3600) or 30m, 12h, 7d, 2w."
            ),
            as_json,
        )
    return int(match.group(1)) * _SECONDS[match.group(2)]


def token_list(server: str = SERVER, as_json: bool = JSON) -> None:
    """Your live tokens (never their values)."""
    with connect(server, as_json) as api:
        tokens = api.tokens()
    show_table(tokens, ("name", "scopes", "expires", "created_at", "hostname", "org"), as_json)


def token_revoke(
    names: list[str] = typer.Argument(..., help="The tokens' names."),
    org: str = typer.Option(None, "--org", help="Tokens made for this organization."),
    server: str = SERVER,
    as_json: bool = JSON,
) -> None:
    """Revoke tokens by name: the server refuses them from now on."""
    with connect(server, as_json) as api:
        for name in names:
            api.revoke(name, org)
    if as_json:
        emit_json({"revoked": names})
        return
    for name in names:
        say(f"Revoked the token '{name}'.")


# --- organizations ---------------------------------------------------------------------------

GROUP = typer.Option("owners", "--group", "-g", help="The organization's group.")


def org_list(server: str = SERVER, as_json: bool = JSON) -> None:
    """The organizations you belong to."""
    with connect(server, as_json) as api:
        orgs = api.orgs()
    show_table(orgs, ("login", "name", "description"), as_json)


def org_show(org: str, server: str = SERVER, as_json: bool = JSON) -> None:
    """An organization's groups and what each may do."""
    with connect(server, as_json) as api:
        groups = api.groups(org)
    show_table(groups, ("name", "permission", "members_count", "packages_count"), as_json)


def org_members(org: str, group: str = GROUP, server: str = SERVER, as_json: bool = JSON) -> None:
    """The members of one of an organization's groups."""
    with connect(server, as_json) as api:
        members = api.members(org, group)
    show_table(members, ("login", "name"), as_json)


def org_add_member(
    org: str, user: str, group: str = GROUP, server: str = SERVER, as_json: bool = JSON
) -> None:
    """Add a user to one of an organization's groups."""
    _set_member(org, user, group, True, server, as_json)


def org_remove_member(
    org: str, user: str, group: str = GROUP, server: str = SERVER, as_json: bool = JSON
) -> None:
    """Take a user out of one of an organization's groups."""
    _set_member(org, user, group, False, server, as_json)


def _set_member(
    org: str, user: str, group: str, member: bool, server: str | None, as_json: bool
) -> None:
    with connect(server, as_json) as api:
        api.set_member(org, group, user, member)
    if as_json:
        emit_json({"org": org, "group": group, "user": user, "member": member})
        return
    say(f"{user} is {'now' if member else 'no longer'} in {org}/{group}.")
