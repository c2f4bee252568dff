"""``ophis server keys``: a channel's signing keys (conda content trust).

The server holds each channel's key_mgr and pkg_mgr keys; the root key stays with the
owner. ``new-root`` and ``sign-key-mgr`` touch no server: they run where the root key is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from ophis.cli.commands.server_options import DATA_DIR, DATABASE, JSON, print_rows, server_session
from ophis.cli.output import emit_json, fail, stdout
from ophis.core.atomic_file import write_atomic
from ophis.core.errors import OphisError

OWNER = typer.Argument(..., help="The channel's owner (a user or an organization).")
ROOT_KEY = typer.Option(
    None, "--root-key", help="A file holding the root private key (64 hex digits)."
)


def keys_app() -> typer.Typer:
    keys = typer.Typer(help="Package signing keys (conda content trust).", no_args_is_help=True)
    keys.command("create")(create)
    keys.command("list")(list_)
    keys.command("rotate")(rotate)
    keys.command("retire")(retire)
    keys.command("export-public")(export_public)
    keys.command("add-root")(add_root)
    keys.command("require")(require)
    keys.command("new-root")(new_root)
    keys.command("sign-key-mgr")(sign_key_mgr)
    return keys


def _summary(document: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(document)
        return
    for key in ("owner", "key_mgr", "pkg_mgr", "signed_files", "retired", "require_signatures"):
        if key in document:
            stdout.print(f"{key}: {document[key]}", highlight=False, soft_wrap=True)
    root = document.get("root")
    stdout.print(f"root.json: version {root['signed']['version']}" if root else "root.json: none")


def _read_root_key(path: Path | None, as_json: bool) -> Any:
    from ophis.security.signing import load_private

    if path is None:
        return None
    try:
        return load_private(path.read_text())
    except (OSError, OphisError, ValueError) as error:
        fail(
            OphisError(
                f"Cannot read a root key from {path}: {error}.",
                "Give the file 'ophis server keys new-root' wrote (root.key).",
            ),
            as_json,
        )


def create(
    owner: str = OWNER,
    root_key: Path = ROOT_KEY,
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    as_json: bool = JSON,
) -> None:
    """Create the channel's key_mgr and pkg_mgr keys and sign every package it has. With
    --root-key, 1.root.json is signed at once; else export the request and sign it offline."""
    from ophis.server.services.trust import signing

    key = _read_root_key(root_key, as_json)
    with server_session(data_dir, database_url, as_json) as session:
        _summary(signing.create_keys(session, owner, key), as_json)


def list_(
    owner: str = typer.Argument(None, help="Only this owner's keys."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    as_json: bool = JSON,
) -> None:
    """List signing keys (public halves) with their role and state."""
    from ophis.server.services.trust import signing

    with server_session(data_dir, database_url, as_json) as session:
        print_rows([key.to_json() for key in signing.list_keys(session, owner)], as_json)


def rotate(
    owner: str = OWNER,
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    as_json: bool = JSON,
) -> None:
    """A new pkg_mgr key signs every package; the old one stays trusted until 'retire'."""
    from ophis.server.services.trust import signing

    with server_session(data_dir, database_url, as_json) as session:
        _summary(signing.rotate(session, owner), as_json)


def retire(
    owner: str = OWNER,
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    as_json: bool = JSON,
) -> None:
    """Stop trusting the pkg_mgr keys a rotation replaced, and drop their signatures."""
    from ophis.server.services.trust import signing

    with server_session(data_dir, database_url, as_json) as session:
        _summary(signing.retire(session, owner), as_json)


def export_public(
    owner: str = OWNER,
    output: Path = typer.Option(None, "--output", "-o", help="Write it here, not to stdout."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    as_json: bool = JSON,
) -> None:
    """The channel's public keys and trust metadata: the request 'sign-key-mgr' signs."""
    from ophis.server.services.trust import signing

    with server_session(data_dir, database_url, as_json) as session:
        request = signing.signing_request(session, owner)
    if output is None:
        emit_json(request)
        return
    write_atomic(output, json.dumps(request, indent=2, sort_keys=True).encode())
    _summary({**request, "written": str(output)}, as_json)


def add_root(
    owner: str = OWNER,
    root_json: Path = typer.Argument(..., help="The N.root.json 'sign-key-mgr' wrote."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    as_json: bool = JSON,
) -> None:
    """Publish root metadata signed offline (checked against the previous version)."""
    from ophis.server.services.trust import signing

    document = _read_json(root_json, as_json)
    with server_session(data_dir, database_url, as_json) as session:
        _summary(signing.add_root(session, owner, document), as_json)


def require(
    owner: str = OWNER,
    on: bool = typer.Option(True, "--on/--off", help="Require signatures, or stop requiring."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    as_json: bool = JSON,
) -> None:
    """Make the channel refuse every upload it cannot sign."""
    from ophis.server.services.trust import signing

    with server_session(data_dir, database_url, as_json) as session:
        _summary(signing.set_required(session, owner, on), as_json)


def new_root(
    directory: Path = typer.Argument(..., help="Where to write root.key and root.pub."),
    as_json: bool = JSON,
) -> None:
    """Create a root key pair (offline; keep root.key off the server)."""
    from ophis.security.signing import generate_key, private_hex, public_hex

    directory.mkdir(parents=True, exist_ok=True)
    private = directory / "root.key"
    if private.exists():
        fail(OphisError(f"{private} exists.", "Choose another directory."), as_json)
    key = generate_key()
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(private_hex(key) + "\n")
    write_atomic(directory / "root.pub", (public_hex(key) + "\n").encode())
    result = {"root_key": str(private), "public_key": public_hex(key)}
    if as_json:
        emit_json(result)
    else:
        stdout.print(f"root key: {private} (mode 0600)\npublic key: {public_hex(key)}")


def sign_key_mgr(
    request: Path = typer.Argument(..., help="The file 'export-public -o' wrote."),
    root_key: Path = typer.Option(..., "--root-key", help="The root private key file."),
    previous: Path = typer.Option(
        None, "--root-json", help="The current root.json [default: the request's]."
    ),
    output_dir: Path = typer.Option(Path("."), "--output-dir", "-o", help="Where to write."),
    as_json: bool = JSON,
) -> None:
    """Offline: sign the next N.root.json, delegating key_mgr to the request's key."""
    from ophis.server.services.trust.signing import root_for_request

    key = _read_root_key(root_key, as_json)
    before = _read_json(previous, as_json) if previous else None
    root = root_for_request(_read_json(request, as_json), key, before)
    path = output_dir / f"{root['signed']['version']}.root.json"
    write_atomic(path, json.dumps(root, indent=2, sort_keys=True).encode())
    result = {"root_json": str(path), "version": root["signed"]["version"]}
    if as_json:
        emit_json(result)
    else:
        stdout.print(f"wrote {path}; publish it with 'ophis server keys add-root OWNER {path}'")


def _read_json(path: Path, as_json: bool) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        fail(OphisError(f"Cannot read {path}: {error}.", "Give a JSON file."), as_json)
    if not isinstance(document, dict):
        fail(OphisError(f"{path} is not a JSON object.", "Give the file Ophis wrote."), as_json)
    return document
