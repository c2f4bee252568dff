"""Which IP addresses a server's requests to its users' URLs may reach (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 127.0.0.1"`` as networks; ValueError names the entry that is not one."""
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if entry:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
    return tuple(networks)


def permitted(address: Address, allowed: Sequence[Network]) -> bool:
    """A global unicast address, or one inside an allowed network (an IPv4-mapped IPv6
    address is judged as the IPv4 address it carries)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return True
    return address.is_global and not address.is_multicast
