"""Finding 6d of issue 22, the rule: the client a public page's rate limit counts is the TCP
peer, unless the peer is a configured trusted proxy; then the right-most address of
`X-Forwarded-For` that is not a trusted proxy (what a client wrote to the left of it is never
believed)."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from services.buyer_sharing.ratelimit import client_address, trusted_networks
from services.buyer_sharing.settings import BuyerSharingSettings

INGRESS = trusted_networks("10.244.0.0/16, fd00::/8")


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        # no proxy is trusted: the peer, whatever the header says
        ("127.0.0.1", ["6.6.6.6"], "127.0.0.1"),
        ("198.51.100.4", ["6.6.6.6"], "198.51.100.4"),
        # a peer outside the trusted ranges cannot forge its address
        ("203.0.113.9", ["10.244.1.1"], "203.0.113.9"),
        # the ingress forwards: the address it appended is the client
        ("10.244.3.7", ["203.0.113.9"], "203.0.113.9"),
        # a client's own X-Forwarded-For entries to the left are not believed
        ("10.244.3.7", ["6.6.6.6, 7.7.7.7, 203.0.113.9"], "203.0.113.9"),
        # several headers are one list; trusted hops to the right are skipped
        ("10.244.3.7", ["6.6.6.6", "203.0.113.9, 10.244.9.9"], "203.0.113.9"),
        ("10.244.3.7", ["2001:db8::5, fd00::1"], "2001:db8::5"),
        # ports and brackets as some proxies write them
        ("10.244.3.7", ["[2001:db8::5]:443"], "2001:db8::5"),
        ("10.244.3.7", ["203.0.113.9:5123"], "203.0.113.9"),
        # from the proxy with no header, or only proxies in it: the left-most hop
        ("10.244.3.7", [], "10.244.3.7"),
        ("10.244.3.7", ["10.244.5.5, 10.244.6.6"], "10.244.5.5"),
        # an entry that is not an address stops the walk at the proxy that wrote it
        ("10.244.3.7", ["203.0.113.9, garbage"], "10.244.3.7"),
        ("10.244.3.7", ["203.0.113.9, , 10.244.2.2"], "10.244.2.2"),
        ("10.244.3.7", ["x" * 5000], "10.244.3.7"),
        # no peer at all (a test transport): one bucket for all such
        (None, ["6.6.6.6"], "unknown"),
    ],
)
def test_the_client_is_the_right_most_untrusted_address(
    peer: str | None, forwarded: list[str], client: str
) -> None:
    trusted = () if client in ("127.0.0.1", "198.51.100.4") else INGRESS
    assert client_address(peer, forwarded, trusted) == client


def test_trusted_proxies_are_cidrs_or_addresses() -> None:
    assert trusted_networks("") == ()
    assert trusted_networks("127.0.0.1, ::1") == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    )
    with pytest.raises(ValueError, match="not-a-network"):
        trusted_networks("10.0.0.0/8,not-a-network")


def test_a_service_configured_with_something_else_does_not_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BW_TRUSTED_PROXIES", "10.244.0.0/16,ingress")
    with pytest.raises(ValidationError, match="'ingress' is not a CIDR"):
        BuyerSharingSettings()
    monkeypatch.setenv("BW_TRUSTED_PROXIES", "10.244.0.0/16")
    assert BuyerSharingSettings().trusted_proxy_networks() == INGRESS[:1]
