"""The server's settings: one value passed to :func:`ophis.server.app.create_app`, never
read from a module-level global.

:func:`load_settings` takes each field from, first to last: the command line, an
``OPHIS_<FIELD>`` environment variable (``OPHIS_DATABASE_URL``, ``OPHIS_STORAGE_URL``, ...),
the TOML config file (``--config``, ``$OPHIS_SERVER_CONFIG`` or ``<data-dir>/server.toml``,
keys named as the fields), the default."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ophis.core.addresses import Network, parse_networks
from ophis.core.errors import OphisError

#: the database's file in the data directory when no database_url is given
SQLITE_NAME = "ophis.sqlite"


def default_data_dir() -> Path:
    """``$OPHIS_SERVER_DATA`` or ``~/.ophis/server``."""
    configured = os.environ.get("OPHIS_SERVER_DATA")
    return Path(configured) if configured else Path.home() / ".ophis" / "server"


def _env_seconds(name: str, default: float) -> float:
    """A delay from the environment: how tests shorten the webhook sender's waits in a
    server they start as a subprocess."""
    return float(os.environ.get(name, default))


@dataclass(frozen=True)
class ServerSettings:
    data_dir: Path = field(default_factory=default_data_dir)
    #: SQLAlchemy URL; SQLite in the data directory when not given
    database_url: str | None = None
    #: where package files live: ``s3://bucket/prefix``, or local files under the data
    #: directory when not given
    storage_url: str | None = None
    #: an S3-compatible service other than AWS (MinIO, Ceph, moto); else boto3's default
    s3_endpoint_url: str | None = None
    #: send S3 downloads as redirects to presigned URLs (else the server streams them)
    download_redirect: bool = True
    #: the root URL clients reach the server at (behind a proxy); else taken from requests
    public_url: str | None = None
    #: largest accepted upload, bytes
    max_upload_bytes: int = 4 * 1024**3
    #: seconds a staged upload may wait for its file and commit
    stage_seconds: int = 3600
    #: may visitors of the web site create their own accounts?
    allow_signup: bool = True
    #: how long a web sign-in lasts, seconds
    session_seconds: int = 12 * 3600
    #: failed sign-ins (web form, Basic auth, password form) allowed per (client address,
    #: login) within ``sign_in_window``
    sign_in_attempts: int = 10
    #: seconds over which failed sign-ins are counted
    sign_in_window: int = 15 * 60
    #: run the webhook sender in this process (off for tests that do not want it)
    webhook_sender: bool = True
    #: seconds between the sender's looks for due deliveries
    webhook_poll_seconds: float = field(
        default_factory=lambda: _env_seconds("OPHIS_WEBHOOK_POLL", 2.0)
    )
    #: a failed delivery is retried after ``backoff * 2**attempts`` seconds
    webhook_backoff_seconds: float = field(
        default_factory=lambda: _env_seconds("OPHIS_WEBHOOK_BACKOFF", 10.0)
    )
    #: attempts before a delivery is given up
    webhook_max_attempts: int = 6
    #: apply the owners' retention policies in this process (off for tests that do not want it)
    retention_runner: bool = True
    #: seconds between two applications of every retention policy
    retention_seconds: float = field(
        default_factory=lambda: _env_seconds("OPHIS_RETENTION_SECONDS", 3600.0)
    )

    # --- outbound requests: webhooks, mirror and proxy upstreams ---------------------------
    #: networks the server's requests to users' URLs may reach besides public addresses,
    #: comma-separated (``10.0.0.0/8,127.0.0.1``); none by default, so that no user can make
    #: the server call its loopback services, private network or a cloud's metadata address
    outbound_allowed_networks: str = ""

    #: sync the mirror channels that are due in this process (off for tests that do not
    #: want it); a lease in the database lets one process sync each mirror at a time
    mirror_runner: bool = True
    #: seconds between the mirror runner's looks for mirror channels that are due
    mirror_poll_seconds: float = 60.0

    #: let signed-in users start a JupyterLab on this host (``/notebooks/<login>/``); off
    #: by default: it runs users' code (as an OS user per account, see user_homes_dir)
    notebooks_enabled: bool = False
    #: the jupyter-lab executable; else the one `ophis server notebooks setup` installed,
    #: else the server's own environment's
    notebooks_jupyter: str | None = None
    #: notebook servers running at once, across all users
    notebooks_max_running: int = 10
    #: address space of one notebook server and its kernels, MiB
    notebooks_memory_mb: int = 4096
    #: a notebook server with no activity for this long is stopped
    notebooks_idle_seconds: float = 3600.0
    #: seconds between the reaper's looks for idle notebook servers
    notebooks_poll_seconds: float = 30.0

    #: run deployed projects on this host (``/deployments/<owner>/<name>/``); off by
    #: default: it runs users' code (as an OS user per account, see user_homes_dir)
    deployments_enabled: bool = False
    #: seconds between the supervisor's looks for deployments that ended
    deployments_poll_seconds: float = 2.0

    # --- user content: deployments and notebooks on an origin of their own ---------------
    #: the origin deployments and notebooks are served from, e.g. https://apps.example.org
    #: (a reverse proxy in front sends it to ``user_content_port``); else the site's own
    #: host name on ``user_content_port``. Never the site's origin: their pages' script
    #: must not reach the site with a visitor's cookies.
    user_content_url: str | None = None
    #: the port the server listens on for user content (``ophis server start``: its
    #: ``--port`` + 1 unless given); None: user content is not served
    user_content_port: int | None = None
    #: the port the site itself listens on (set by ``ophis server start``): links from the
    #: user-content origin back to the site, when ``public_url`` is not set
    site_port: int | None = None
    #: the CSP ``sandbox`` deployments are served under unless their owner set one:
    #: scripts and forms run, in an opaque origin (no ``allow-same-origin``: no cookies or
    #: storage of the user-content origin, no reading other deployments or notebooks).
    #: "off", or adding allow-same-origin, lets every deployment's script act with its
    #: visitors' sessions of that origin: only with trusted deployments
    user_content_sandbox: str = (
        "allow-scripts allow-forms allow-popups allow-modals allow-downloads"
    )

    # --- user code isolation: notebooks and deployments run as an OS user per account ---
    #: the accounts' homes (notebooks, environments, deployments' releases), each closed to
    #: the other accounts; never inside the data directory, which user code cannot read
    user_homes_dir: Path = Path("/var/lib/ophis/user-homes")
    #: processes (and threads) one account's user code may have at once (RLIMIT_NPROC)
    user_max_processes: int = 512

    # --- request limits, staged uploads, the data directory, API docs (area: limits) ---
    #: largest body of any request but package uploads, project archives and what the
    #: notebook and deployment proxies pass on (those take ``max_upload_bytes``), bytes
    max_request_bytes: int = 1024**2
    #: uploads one user may have staged (not yet committed) at once
    max_staged_uploads: int = 10
    #: bytes one user's staged, not yet committed uploads may hold on disk
    max_staged_bytes: int = 8 * 1024**3

    # --- deployments' network: who can connect to a deployment's port -------------------
    #: "none": each deployment runs in a network namespace of its own with only a loopback
    #: interface, reached by the server's proxy alone (through a Unix socket), and reaching
    #: no network itself. "host": in the host's network, with outbound access -- but then
    #: any local process, other accounts' notebooks and deployments too, can connect to its
    #: port and skip the proxy's access checks of a private deployment
    deployments_network: str = "none"

    # --- credentials: whose proxy headers name the client, the sign-in limit per address --
    #: proxies whose ``X-Forwarded-For``/``-Proto`` are believed: IP addresses or CIDR
    #: networks, separated by commas; empty: the socket's peer is the client (the address
    #: the sign-in limit counts by). A proxy on this host needs ``127.0.0.1`` here.
    trusted_proxies: str = ""
    #: failed sign-ins allowed from one client address across all logins within
    #: ``sign_in_window`` (0: no such limit); behind a proxy not in ``trusted_proxies``
    #: every client shares the proxy's address, and so this limit
    sign_in_address_attempts: int = 100

    # --- load: requests admitted at once, sized with the threads and the database pool ---
    # A request that uses the database holds a pooled connection across the thread hops of
    # its dependencies and route; admitting no more such requests than the pool has
    # connections (and the thread pool has threads) means no request ever waits for a
    # connection or a thread that a waiting request holds. The pool and the thread limiter
    # are sized from these (see ophis.server.admission). Excess requests wait in a bounded
    # queue, then get 503 with Retry-After, which conda and pip honour.
    #: API and web page requests served at once
    max_database_requests: int = 12
    #: channel and index requests (repodata, shards, package files, pip pages) served at
    #: once: a limit of their own, so slow API requests never starve them
    max_file_requests: int = 24
    #: package uploads (and project archives) received at once: a slow client holds its
    #: slot while its body arrives
    max_upload_requests: int = 4
    #: requests of each kind that may wait for a slot; one more is answered 503 at once
    max_queued_requests: int = 1000
    #: seconds a request may wait for a slot before it is answered 503 with Retry-After
    queue_wait_seconds: float = 10.0
    #: seconds ``/healthz`` and ``/readyz`` give the database to answer before 503
    health_timeout_seconds: float = 2.0

    # --- the hot path: repodata, shards and package files (area: hotpath) ----------------
    #: let a web server in front send the package files the server authorized: "nginx"
    #: answers ``X-Accel-Redirect: <accel_redirect_prefix>/<storage key>`` (an ``internal``
    #: location aliased to the storage directory), "sendfile" ``X-Sendfile: <file's path>``
    #: (Apache's mod_xsendfile, lighttpd), with an empty body; "": the server sends the bytes
    accel_redirect: str = ""
    #: the internal location X-Accel-Redirect names (see docs/production.md)
    accel_redirect_prefix: str = "/_ophis_files"
    #: seconds an anonymous request's channel look-up may be reused when nothing changed;
    #: None: 1 on SQLite (every writer bumps a counter beside the database file, so a change
    #: ends the reuse at once), 0 on PostgreSQL (servers on other hosts write it unseen, so
    #: each request looks its channel up). A value above 0 on a shared PostgreSQL lets other
    #: hosts' changes show after at most that long.
    hot_path_seconds: float | None = None

    def __post_init__(self) -> None:
        try:
            parse_networks(self.outbound_allowed_networks)
        except ValueError as error:
            raise OphisError(
                f"outbound_allowed_networks: {error}.",
                "List IP networks separated by commas, e.g. 10.0.0.0/8,127.0.0.1.",
            ) from None

    @property
    def outbound_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.outbound_allowed_networks)

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / SQLITE_NAME}"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"


CONFIG_ENV = "OPHIS_SERVER_CONFIG"
CONFIG_NAME = "server.toml"
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def load_settings(config: Path | None = None, **given: Any) -> ServerSettings:
    """Settings from the command line (``given``; None means not given), the environment
    and the config file."""
    fields = {f.name: f for f in dataclasses.fields(ServerSettings)}
    unknown = set(given) - set(fields)
    if unknown:
        raise TypeError(f"unknown settings: {sorted(unknown)}")
    data_dir = given.get("data_dir") or default_data_dir()
    from_file = _read_config(config, Path(data_dir), fields)
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        if given.get(name) is not None:
            values[name] = given[name]
        elif (raw := os.environ.get(f"OPHIS_{name.upper()}")) is not None:
            values[name] = _convert(name, spec.type, raw, f"$OPHIS_{name.upper()}")
        elif name in from_file:
            values[name] = from_file[name]
    values["data_dir"] = Path(values.get("data_dir", data_dir)).absolute()
    return ServerSettings(**values)


def _read_config(
    config: Path | None, data_dir: Path, fields: dict[str, dataclasses.Field[Any]]
) -> dict[str, Any]:
    named = config or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    path = named or data_dir / CONFIG_NAME
    if named is None and not path.is_file():
        return {}
    try:
        table = tomllib.loads(path.read_text())
    except FileNotFoundError as error:
        raise OphisError(
            f"The config file {path} does not exist.", "Check the path given to --config."
        ) from error
    except tomllib.TOMLDecodeError as error:
        raise OphisError(f"{path} is not valid TOML: {error}.", "Fix the file.") from error
    unknown = set(table) - set(fields)
    if unknown:
        raise OphisError(
            f"{path} has unknown settings: {', '.join(sorted(unknown))}.",
            f"Known settings: {', '.join(fields)}.",
        )
    return {
        name: _convert(name, fields[name].type, value, str(path)) for name, value in table.items()
    }


def _convert(name: str, annotation: Any, raw: Any, origin: str) -> Any:
    """A string (environment) or TOML value as the field's type."""
    kind = str(annotation).split(" |")[0]
    try:
        if kind == "bool" and isinstance(raw, str):
            if raw.lower() not in _TRUE | _FALSE:
                raise ValueError(raw)
            return raw.lower() in _TRUE
        if kind in ("int", "float", "bool"):
            return {"int": int, "float": float, "bool": bool}[kind](raw)
        if kind == "Path":
            return Path(raw)
        return str(raw)
    except (TypeError, ValueError) as error:
        raise OphisError(
            f"{name} = {raw!r} (from {origin}) is not a valid {kind}.",
            f"Give {name} a {kind} value.",
        ) from error
