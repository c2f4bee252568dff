"""Who the client is when proxies stand in front of the server.

The client's address is the socket's peer, unless that peer is one of
``settings.trusted_proxies``: then the address that proxy (and any trusted proxy before it)
names in ``X-Forwarded-For`` is, taken from the right (uvicorn's ``ProxyHeadersMiddleware``
does the parsing). No other header (``Forwarded``, ``X-Real-IP``) is believed, and no one
else's proxy headers are: a request cannot choose its own address, which the sign-in limit
counts failures by. The server is started with uvicorn's own proxy handling off, which would
trust 127.0.0.1, where notebooks and deployments connect from.

``X-Forwarded-Proto`` is also believed from this host itself (a TLS-terminating proxy
beside the server): the scheme only makes cookies Secure and links https, for the caller's
own answer.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from ophis.core.errors import OphisError

_SCHEMES = {"http": ("http", "ws"), "https": ("https", "wss")}


def trusted_networks(value: str) -> list[str]:
    """``settings.trusted_proxies`` (addresses or CIDR networks, separated by commas or
    spaces) as networks; an entry that is neither is an error naming it."""
    networks = []
    for entry in value.replace(",", " ").split():
        if entry == "*":
            raise OphisError(
                "trusted_proxies = '*' would let any client choose its own address.",
                "List the addresses or networks of your proxies, e.g. 127.0.0.1, 10.0.0.0/8.",
            )
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise OphisError(
                f"trusted_proxies: {entry!r} is not an IP address or network.",
                "List the addresses or networks of your proxies, e.g. 127.0.0.1, 10.0.0.0/8.",
            ) from None
    return networks


class ForwardedMiddleware:
    """Sets the request's client (and scheme) from trusted proxies' headers only."""

    def __init__(self, app: Any, trusted_proxies: str = "") -> None:
        networks = trusted_networks(trusted_proxies)
        self.app = ProxyHeadersMiddleware(app, trusted_hosts=networks) if networks else app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and _from_this_host(scope):
            scope = _with_forwarded_scheme(scope)
        await self.app(scope, receive, send)


def _from_this_host(scope: dict[str, Any]) -> bool:
    client = scope.get("client")
    return client is not None and _is_loopback(client[0])


@functools.lru_cache(maxsize=1024)  # parsed once per address: it runs on every request
def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _with_forwarded_scheme(scope: dict[str, Any]) -> dict[str, Any]:
    for name, value in scope["headers"]:
        if name == b"x-forwarded-proto":
            schemes = _SCHEMES.get(value.decode("latin-1").strip().lower())
            if schemes:
                return dict(scope, scheme=schemes[scope["type"] == "websocket"])
    return scope
