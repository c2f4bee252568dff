"""``ophis navigator``: the local GUI on 127.0.0.1, opened in the user's browser."""

from __future__ import annotations

import json
import socket
import sys
import webbrowser

import typer

from ophis.cli.output import fail
from ophis.core.errors import OphisError

HOST = "127.0.0.1"  # loopback only: the navigator changes this user's environments


def register(app: typer.Typer) -> None:
    app.command("navigator")(navigator)


def navigator(
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (default: a free one)."),
    no_browser: bool = typer.Option(
        False, "--no-browser", help="Do not open a browser; print the URL to open."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the URL as JSON."),
) -> None:
    """Start Ophis Navigator, a graphical front end for environments, packages, channels and
    applications. It listens on 127.0.0.1 only; its URL carries a one-time token."""
    import uvicorn

    from ophis.navigator import NavigatorSettings, create_navigator_app

    try:
        sock = _bind(port)
    except OphisError as error:
        fail(error, json_output)
    settings = NavigatorSettings()
    url = f"http://{HOST}:{sock.getsockname()[1]}/?token={settings.token}"
    if json_output:
        # one line, written before serving: a script reads it while the navigator runs
        sys.stdout.write(json.dumps({"url": url, "port": sock.getsockname()[1]}) + "\n")
    else:
        typer.echo(f"Ophis Navigator is running at:\n\n    {url}\n\nStop it with Ctrl+C.")
    sys.stdout.flush()
    if not no_browser:
        webbrowser.open(url)
    config = uvicorn.Config(create_navigator_app(settings), log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
    except OSError as error:
        sock.close()
        raise OphisError(
            f"Cannot listen on {HOST}:{port}: {error.strerror}.",
            "Choose another --port, or leave it out to take a free one.",
        ) from None
    sock.listen(64)
    return sock
