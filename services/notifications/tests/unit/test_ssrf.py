"""Address classes webhooks may not reach, the allow-list, URL rules, and the transport's
connection-time check (real code; only DNS answers are injected)."""

from __future__ import annotations

import ipaddress
import re

import pytest

from services.notifications.adapters.transport import WebhookClient, check_url
from services.notifications.domain.ssrf import AddressPolicy, Refused, forbidden_class, is_public


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("100.64.0.1", "shared"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("fd00:ec2::254", "private"),  # IPv6 ULA (AWS metadata over IPv6)
        ("::ffff:127.0.0.1", "loopback (in an IPv6 form)"),
        ("::ffff:169.254.169.254", "link-local (in an IPv6 form)"),
        ("64:ff9b::a00:1", "private (in an IPv6 form)"),  # NAT64 of 10.0.0.1
        ("64:ff9b::7f00:1", "loopback (in an IPv6 form)"),
        ("2002:a00:1::1", "private (in an IPv6 form)"),  # 6to4 of 10.0.0.1
    ],
)
def test_every_forbidden_class_is_refused(address: str, reason: str) -> None:
    found = forbidden_class(ipaddress.ip_address(address))
    assert found is not None and found.startswith(reason.split(" (")[0]), found
    assert found.endswith("(in an IPv6 form)") == reason.endswith("(in an IPv6 form)")
    with pytest.raises(Refused):
        AddressPolicy().check_addresses("host.example", [address])


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1::1", "64:ff9b::5db8:d822"])
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_class(ipaddress.ip_address(address)) is None


def test_one_bad_address_among_good_ones_refuses_the_host() -> None:
    with pytest.raises(Refused):
        AddressPolicy().check_addresses("mixed.example", ["93.184.216.34", "10.0.0.1"])


def test_the_operator_allow_list_is_the_only_exception() -> None:
    policy = AddressPolicy.parse(["127.0.0.0/8"], allow_http=True)
    assert policy.check_addresses("localhost", ["127.0.0.1"])
    with pytest.raises(Refused):
        policy.check_addresses("localhost", ["::1"])
    with pytest.raises(Refused):  # the mapped form is not in the IPv4 allow-list
        policy.check_addresses("x", ["::ffff:10.0.0.1"])
    assert policy.check_url("http://127.0.0.1:8080/x").host == "127.0.0.1"


@pytest.mark.parametrize(
    "url",
    ["http://hooks.example/x", "ftp://hooks.example/", "https:///x", "https://u:p@h.example/"],
)
def test_only_https_urls_without_credentials(url: str) -> None:
    with pytest.raises(Refused):
        AddressPolicy().check_url(url)


async def test_a_host_name_that_resolves_to_a_private_address_is_refused() -> None:
    async def resolve(host: str, _port: int) -> list[str]:
        return {"hooks.example": ["93.184.216.34"], "intranet.example": ["10.0.0.7"]}[host]

    await check_url("https://hooks.example/x", AddressPolicy(), resolve)
    with pytest.raises(Refused, match=re.escape("10.0.0.7")):
        await check_url("https://intranet.example/x", AddressPolicy(), resolve)


async def test_localhost_through_the_system_resolver_is_refused() -> None:
    with pytest.raises(Refused, match="loopback"):
        await check_url("https://localhost/hook", AddressPolicy())


async def test_the_connection_time_check_defeats_dns_rebinding() -> None:
    """Registration saw a public address; by the time of the delivery the name points at the
    loopback interface. The transport resolves again, checks, and never connects."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    async def rebinding(_host: str, _port: int) -> list[str]:
        return next(answers)

    policy = AddressPolicy()
    await check_url("https://rebind.example/hook", policy, rebinding)
    client = WebhookClient(policy, resolver=rebinding)
    try:
        with pytest.raises(Refused, match=re.escape("127.0.0.1, a loopback")):
            await client.post("https://rebind.example/hook", b"{}", {})
    finally:
        await client.aclose()


async def test_an_address_literal_in_the_url_is_checked_at_connection_time() -> None:
    """aiohttp connects to an IP literal without asking the resolver: the client checks it."""
    client = WebhookClient(AddressPolicy(), resolver=_never_resolves)
    try:
        for url, reason in (
            ("https://127.0.0.1:9/hook", "127.0.0.1, a loopback"),
            ("https://[::ffff:169.254.169.254]/hook", "link-local"),
            ("http://93.184.216.34/hook", "https"),
        ):
            with pytest.raises(Refused, match=re.escape(reason)):
                await client.post(url, b"{}", {})
    finally:
        await client.aclose()


async def _never_resolves(host: str, _port: int) -> list[str]:
    raise AssertionError(f"unexpected lookup of {host}")


def test_only_a_globally_routable_peer_is_public() -> None:
    """A receiver's answer is shown to the buyer only from such a peer (issue 22, finding 6)."""
    assert is_public("93.184.216.34") and is_public("2606:4700:4700::1111")
    for address in (
        "127.0.0.1",
        "10.0.0.7",
        "::1",
        "fe80::1%eth0",
        "100.64.0.1",
        "::ffff:10.0.0.1",
        "169.254.169.254",
        "not-an-address",
        "",
    ):
        assert not is_public(address), address
