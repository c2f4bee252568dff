"""The server's requests to URLs its users name: webhooks, mirror and proxy upstreams.

They reach public addresses only, and the networks the operator lists in
``outbound_allowed_networks`` (``OPHIS_OUTBOUND_ALLOWED_NETWORKS="10.0.0.0/8,127.0.0.1"``):
a user who may declare a webhook or a mirror must not make the server call its own
loopback services, its private network or a cloud's metadata address. Every connection is
checked as it is made (:mod:`ophis.client.address_guard`: redirects and DNS answers that
change included); a URL is also checked when it is declared, so that its owner hears it at
once. A ``file://`` upstream is the operator's alone (``ophis server mirror add`` on the
server's machine): a user may not make the server read its own files.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ophis.client.address_guard import AddressRefused, check_url, transport_factory
from ophis.client.verified_download import TransportFactory
from ophis.server.errors import BadRequest
from ophis.server.settings import ServerSettings


def transport(settings: ServerSettings) -> TransportFactory:
    """Makes each outbound client's transport."""
    return transport_factory(settings.outbound_networks)


def check_user_url(url: str, settings: ServerSettings, what: str) -> None:
    """A URL a user declares: http(s), to a host the server may reach; BadRequest naming
    the rule otherwise (``what``: "A webhook", "A mirror's upstream")."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BadRequest(
            f"{what} must be an http(s) URL.",
            "Give an https:// URL; only the server's operator may name local files.",
        )
    try:
        parts.port  # noqa: B018  (reading it checks it)
    except ValueError:
        raise BadRequest(f"{what} names no valid port.", "Give a port from 1 to 65535.") from None
    try:
        check_url(url, settings.outbound_networks)
    except AddressRefused as refused:
        raise BadRequest(
            f"{what} may not point at this server's own network: {refused}", ""
        ) from None
