"""HTTP requests that reach only public addresses, or the networks an operator allowed.

A server that fetches URLs its users name (webhooks, mirror and proxy upstreams) would
otherwise call what only it can reach for them: its own loopback services, the private
network, a cloud's metadata address (169.254.169.254). :func:`guarded_transport` is an
``httpx`` transport whose every connection, redirects included, goes to an address checked
here: the host is resolved once and the connection is made to that very address, so a DNS
answer that changes between the check and the connection cannot slip through. TLS still
verifies the certificate against the host name.

httpx has no option for this: its transport's connection pool takes a network backend,
which :class:`GuardedBackend` is (resolve, check, then connect as httpcore does).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from ophis.core.addresses import Address, Network, permitted


class AddressRefused(httpcore.ConnectError):
    """The host resolves only to addresses requests may not reach (httpx: ConnectError)."""


def refusal(error: BaseException) -> str | None:
    """The guard's reason when ``error`` (an httpx error) comes from a refused address."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, AddressRefused):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to (an address literal: itself)."""
    found = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]


def permitted_address(host: str, port: int, allowed: Sequence[Network]) -> Address:
    """The first address of ``host`` a request may reach; AddressRefused when none."""
    try:
        addresses = resolve(host, port)
    except OSError as error:
        raise httpcore.ConnectError(f"{host} could not be resolved: {error}") from None
    for address in addresses:
        if permitted(address, allowed):
            return address
    shown = ", ".join(sorted({str(a) for a in addresses}))
    raise AddressRefused(
        f"{host} is a loopback, private or link-local address ({shown}): this server does "
        "not send requests to its own network. The operator can allow a network with the "
        "setting outbound_allowed_networks."
    )


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend, connecting only to permitted addresses."""

    def __init__(self, allowed: Sequence[Network]) -> None:
        self.allowed = tuple(allowed)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        address = permitted_address(host, port, self.allowed)
        return super().connect_tcp(str(address), port, timeout, local_address, socket_options)


def guarded_transport(allowed: Sequence[Network], **options: Any) -> httpx.HTTPTransport:
    """An httpx transport (``options`` as ``httpx.HTTPTransport``'s) reaching only public
    addresses and the ``allowed`` networks."""
    transport = httpx.HTTPTransport(**options)
    pool = transport._pool
    if not hasattr(pool, "_network_backend"):  # httpcore changed: fail, never go unguarded
        raise RuntimeError("httpcore's connection pool has no network backend to guard")
    pool._network_backend = GuardedBackend(allowed)
    return transport


def transport_factory(allowed: Sequence[Network]) -> Callable[..., httpx.BaseTransport]:
    """What the client layer's ``transport`` options take: a guarded transport per client."""
    return lambda **options: guarded_transport(allowed, **options)


def check_url(url: str, allowed: Sequence[Network]) -> None:
    """Refuse at once a URL whose host resolves only to addresses requests may not reach
    (a host that does not resolve now is judged when it is used)."""
    host = urlsplit(url).hostname
    if not host:
        return
    try:
        permitted_address(host, 0, allowed)  # the port plays no part in where a name points
    except AddressRefused:
        raise
    except httpcore.ConnectError:
        return
