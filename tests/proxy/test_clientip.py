"""Client addresses: X-Forwarded-For is believed only from trusted proxies."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from rowgate.proxy.clientip import TrustedProxies


@pytest.mark.parametrize(
    ("trusted", "peer", "xff", "client"),
    [
        ((), "203.0.113.9", "1.2.3.4", "203.0.113.9"),  # nobody trusted: the header is ignored
        (("10.0.0.0/8",), "203.0.113.9", "1.2.3.4", "203.0.113.9"),  # peer not trusted
        (("10.0.0.0/8",), "10.0.0.5", "198.51.100.7", "198.51.100.7"),
        (("10.0.0.0/8",), "10.0.0.5", "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # spoofed left part skipped
        (("10.0.0.0/8",), "10.0.0.5", "198.51.100.7, 10.0.0.9", "198.51.100.7"),  # chain of trusted hops
        (("10.0.0.0/8",), "10.0.0.5", "not-an-ip", "10.0.0.5"),
        (("10.0.0.0/8",), "10.0.0.5", None, "10.0.0.5"),
        (("::1",), "::1", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip(trusted: tuple[str, ...], peer: str, xff: str | None, client: str) -> None:
    assert TrustedProxies(trusted).client_ip(peer, xff) == client


@pytest.mark.parametrize(
    ("peer", "kept"), [("203.0.113.9", {"X-Custom"}), ("10.0.0.5", {"X-Custom", "X-Real-IP"})]
)
def test_proxy_headers_are_kept_from_trusted_proxies_only_and_overrides_never(
    peer: str, kept: set[str]
) -> None:
    headers = CIMultiDict({"X-Real-IP": "6.6.6.6", "x-original-url": "/admin", "X-Custom": "1"})
    TrustedProxies(["10.0.0.0/8"], ["X-Real-IP"]).scrub(headers, peer)
    assert set(headers) == kept
