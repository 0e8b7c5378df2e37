"""Who is the client: the peer address, or, behind trusted proxies, the address they report.

``X-Forwarded-For`` is only believed for hops that come from ``server.trusted_proxies``; the
client is the right-most address that is not a trusted proxy.  Anything else a client writes in
that header is ignored, so it cannot dodge per-IP rate limits or lockouts.

The other headers through which proxies describe the client (``Forwarded``, ``X-Real-IP``,
``CF-Connecting-IP``, ..., the list ``server.proxy_headers``) reach the upstream only from a
trusted proxy: from anyone else they are removed, so the app cannot be told a made-up address,
scheme or prefix.  Headers that would make the app read another path or method than the one the
route rule was decided on (``X-Original-URL``, ``X-HTTP-Method-Override``, ...) are removed from
everyone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from multidict import CIMultiDict

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Path and method overrides some frameworks honour (Symfony, IIS URL Rewrite, Express, ...).
OVERRIDE_HEADERS = (
    "X-Original-URL",
    "X-Rewrite-URL",
    "X-Original-URI",
    "X-HTTP-Method-Override",
    "X-HTTP-Method",
    "X-Method-Override",
)


class TrustedProxies:
    def __init__(self, cidrs: Iterable[str], proxy_headers: Iterable[str] = ()) -> None:
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)
        self.proxy_headers = tuple(proxy_headers)
        overrides = frozenset(name.lower() for name in OVERRIDE_HEADERS)
        self._scrubbed = {
            True: overrides,
            False: overrides | {name.lower() for name in self.proxy_headers},
        }

    def scrubbed(self, trusted: bool) -> frozenset[str]:
        """The lower-case names ``scrub`` removes from a peer that is (or is not) a trusted proxy."""
        return self._scrubbed[trusted]

    def scrub(self, headers: CIMultiDict[str], peer: str | None) -> None:
        """Remove the override headers, and the proxy headers unless ``peer`` is a trusted proxy."""
        for name in self.scrubbed(self.trusts(peer)):
            headers.popall(name, None)

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
