"""Who is the client: the peer address, or, behind trusted proxies, the address they report.

``X-Forwarded-For`` is only believed for hops that come from ``server.trusted_proxies``; the
client is the right-most address that is not a trusted proxy.  Anything else a client writes in
that header is ignored, so it cannot dodge per-IP rate limits or lockouts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, cidrs: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)

    def trusts(self, address: str | None) -> bool:
        if not address or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client's address as far as trusted hops can tell."""
        address = peer or "unknown"
        if not forwarded_for or not self.trusts(peer):
            return address
        for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return address
            address = hop
            if not self.trusts(hop):
                break
        return address
