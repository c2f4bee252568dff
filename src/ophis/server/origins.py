"""The server's two origins: the site's, and the user content's (deployments and notebook
servers), as a browser reaches each from the other."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from ophis.server.settings import ServerSettings


def _origin_on(request: HTTPConnection, port: int | None) -> str:
    """This request's scheme and host name (the public URL's, when set) on ``port``."""
    public = request.app.state.context.settings.public_url
    parts = urlsplit(public) if public else request.url
    host = parts.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def user_content_root(request: HTTPConnection) -> str:
    """The user-content origin, as a browser of the site reaches it."""
    settings: ServerSettings = request.app.state.context.settings
    if settings.user_content_url:
        return settings.user_content_url.rstrip("/")
    return _origin_on(request, settings.user_content_port)


def site_root(request: HTTPConnection) -> str:
    """The site, as a browser of the user-content origin reaches it."""
    settings: ServerSettings = request.app.state.context.settings
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return _origin_on(request, settings.site_port)
