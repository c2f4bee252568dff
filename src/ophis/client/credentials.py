"""The servers ``ophis`` logs in to, and where each one's token is kept.

``client.yml`` in ``$OPHIS_CLIENT_CONFIG_DIR`` (else ``~/.config/ophis``) names the servers
(their API URL, the user) and the default one; it holds no secret. A token is kept in the
user's keyring when a real one is available, else in a file only the user may read, and
always also in anaconda-client's token file for the API URL: conda and the ``anaconda``
client read that one, so a private channel installs right after ``ophis login`` (see
:mod:`ophis.client.auth`) and both clients share one login.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ophis.client.api import ApiClient, NotLoggedIn
from ophis.client.auth import token_directories
from ophis.core.errors import OphisError

CONFIG_DIR_ENV = "OPHIS_CLIENT_CONFIG_DIR"
#: tokens given in the environment win over stored ones, as with anaconda-client
TOKEN_ENV = ("BINSTAR_API_TOKEN", "ANACONDA_API_TOKEN")
KEYRING_SERVICE = "ophis"
KEYRING, FILE = "keyring", "file"


class CredentialsError(OphisError):
    exception_name = "CredentialsError"


@dataclass(frozen=True)
class Server:
    name: str
    #: the API URL, without a trailing slash (the key of its token everywhere)
    url: str
    username: str | None = None
    #: where the token is kept: "keyring", "file", or None when logged out
    token_store: str | None = None


@dataclass
class ClientConfig:
    path: Path
    servers: dict[str, Server] = field(default_factory=dict)
    default: str | None = None

    @classmethod
    def load(cls, env: Mapping[str, str]) -> ClientConfig:
        path = config_dir(env) / "client.yml"
        try:
            data = YAML(typ="safe").load(path) if path.is_file() else None
        except YAMLError as error:
            raise CredentialsError(
                f"{path} is not valid YAML: {error}", "Fix or delete it, then log in again."
            ) from None
        data = data if isinstance(data, dict) else {}
        servers = {
            name: _server(path, name, entry) for name, entry in (data.get("servers") or {}).items()
        }
        return cls(path, servers, data.get("default"))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        servers = {
            name: {k: v for k, v in asdict(s).items() if k != "name"}
            for name, s in self.servers.items()
        }
        YAML(typ="safe").dump({"default": self.default, "servers": servers}, self.path)

    def resolve(self, name: str | None) -> Server:
        """The server called ``name`` (or given by its API URL), else the default one."""
        name = name or self.default
        if name in self.servers:
            return self.servers[name]
        if name and "://" in name:
            url = name.rstrip("/")
            return next((s for s in self.servers.values() if s.url == url), Server(url, url))
        if name:
            raise CredentialsError(
                f"No server is called '{name}'.",
                f"Known: {', '.join(sorted(self.servers)) or 'none'}. Log in with "
                f"`ophis login URL --server {name}`, or pass --server URL.",
            )
        raise CredentialsError(
            "No server to talk to.", "Log in with `ophis login URL`, or pass --server URL."
        )

    def name_for(self, url: str) -> str:
        """The name a server at ``url`` already has, else its host and port."""
        known = next((s.name for s in self.servers.values() if s.url == url), None)
        return known or urlsplit(url).netloc


def _server(path: Path, name: str, entry: Any) -> Server:
    if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
        raise CredentialsError(
            f"{path}: the server '{name}' has no url.", "Fix it, or log in to it again."
        )
    known = ("url", "username", "token_store")
    return Server(name=name, **{key: entry[key] for key in known if key in entry})


def config_dir(env: Mapping[str, str]) -> Path:
    if env.get(CONFIG_DIR_ENV):
        return Path(env[CONFIG_DIR_ENV])
    home = Path(env.get("HOME") or Path.home())
    return Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "ophis"


# --- logging in and out ---------------------------------------------------------------------


def api_url(url: str) -> str:
    """The API URL for what the user typed: a server root gets Ophis's ``/api``; an API URL
    (anaconda.org's ``https://api.anaconda.org``, or ``.../api``) stays as it is."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = f"https://{url}"  # as anaconda-client does
    if url.endswith("/api") or urlsplit(url).netloc.startswith("api."):
        return url
    return f"{url}/api"


def login_target(config: ClientConfig, url: str | None, name: str | None) -> Server:
    """The server ``ophis login [URL] [--server NAME]`` logs in to: a known one by name, or
    the one at ``url`` (keeping what is known about it)."""
    if not url:
        return config.resolve(name)
    api = api_url(url)
    name = name or config.name_for(api)
    known = config.servers.get(name)
    return replace(known, url=api) if known else Server(name, api)


def login(
    config: ClientConfig,
    server: Server,
    username: str,
    password: str,
    env: Mapping[str, str],
) -> Server:
    """A new token for ``username`` on ``server``, stored; the server becomes the default."""
    body = {
        "note": f"ophis:{getpass.getuser()}@{socket.gethostname()}",
        "hostname": socket.gethostname(),
        "scopes": None,
        "strength": "strong",
        "fail-if-exists": False,  # logging in again from this host replaces its token
    }
    with ApiClient(server.url) as api:
        try:
            token = api.create_token(body, auth=(username, password))["token"]
        except NotLoggedIn:
            raise CredentialsError(
                f"{server.url} refused the user name or password of '{username}'.",
                "Check them and run `ophis login` again.",
            ) from None
    server = replace(server, username=username, token_store=save_token(server.url, token, env))
    config.servers[server.name] = server
    config.default = server.name
    config.save()
    return server


def logout(config: ClientConfig, server: Server, env: Mapping[str, str]) -> None:
    """Revoke the stored token on the server (one it already refuses is fine) and forget it
    everywhere it was kept."""
    token = stored_token(server, env)
    if token is None:
        raise CredentialsError(
            f"Not logged in to {server.url}.", "Nothing to do; `ophis login` logs in."
        )
    # a token the server refuses already (expired, revoked) only needs forgetting
    with ApiClient(server.url, token) as api, contextlib.suppress(NotLoggedIn):
        api.revoke_current()
    forget_token(server, token, env)
    if server.name in config.servers:
        config.servers[server.name] = replace(server, token_store=None)
        config.save()


# --- where tokens are kept ------------------------------------------------------------------


def token_for(server: Server, env: Mapping[str, str]) -> str | None:
    """The token to call ``server`` with: from the environment, else the stored one."""
    for name in TOKEN_ENV:
        if env.get(name):
            return env[name]
    return stored_token(server, env)


def stored_token(server: Server, env: Mapping[str, str]) -> str | None:
    """The token ``ophis login`` (or ``anaconda login``) stored for the server's URL."""
    token = None
    if server.token_store == KEYRING:
        token = _keyring_get(server.url)
    elif server.token_store == FILE:
        token = _read(_token_file(server.url, env))
    return token or next(filter(None, map(_read, anaconda_token_files(server.url, env))), None)


def save_token(url: str, token: str, env: Mapping[str, str]) -> str:
    """Keep ``token`` for ``url``; returns where ("keyring" or "file")."""
    for path in anaconda_token_files(url, env):
        write_private(path, token)
    if _keyring_set(url, token):
        _token_file(url, env).unlink(missing_ok=True)
        return KEYRING
    write_private(_token_file(url, env), token)
    return FILE


def forget_token(server: Server, token: str, env: Mapping[str, str]) -> None:
    """Remove ``token`` from the keyring, the file and anaconda-client's token files (a
    different token there, from another login, is left alone)."""
    if server.token_store == KEYRING:
        _keyring_delete(server.url)
    for path in [_token_file(server.url, env), *anaconda_token_files(server.url, env)]:
        if _read(path) == token:
            path.unlink()


def anaconda_token_files(url: str, env: Mapping[str, str]) -> list[Path]:
    """anaconda-client's token file for ``url`` in each directory conda and it read."""
    return [directory / f"{quote_plus(url)}.token" for directory in token_directories(env)]


def _token_file(url: str, env: Mapping[str, str]) -> Path:
    return config_dir(env) / "tokens" / f"{quote_plus(url)}.token"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the user alone (created so: never briefly wider)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def _keyring() -> Any:
    """The user's keyring, or None when only keyring's fail or null backend is there
    (headless machines, containers)."""
    import keyring
    from keyring.backends import fail, null

    backend = keyring.get_keyring()
    return None if isinstance(backend, (fail.Keyring, null.Keyring)) else backend


def _keyring_set(url: str, token: str) -> bool:
    from keyring.errors import KeyringError

    backend = _keyring()
    if backend is None:
        return False
    try:
        backend.set_password(KEYRING_SERVICE, url, token)
    except KeyringError:  # locked or broken: the file will do
        return False
    return True


def _keyring_get(url: str) -> str | None:
    from keyring.errors import KeyringError

    backend = _keyring()
    try:
        return backend.get_password(KEYRING_SERVICE, url) if backend else None
    except KeyringError:
        return None


def _keyring_delete(url: str) -> None:
    from keyring.errors import KeyringError

    backend = _keyring()
    try:
        if backend is not None:
            backend.delete_password(KEYRING_SERVICE, url)
    except KeyringError:
        pass  # already gone
