"""A webhook URL is parsed once, at the edge (issue 22, finding 5): whatever text arrives, parsing
gives a URL whose host is ASCII, or `Refused` (`Malformed` when it cannot be parsed): never
another exception. What it gives parses again to itself, and the name it keeps is one the
system's resolver and the HTTP client can encode."""

from __future__ import annotations

import pytest
import yarl
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifications.domain.ssrf import (
    AddressPolicy,
    Malformed,
    Refused,
    WebhookUrl,
    parse_url,
)
from services.notifications.tests.integration.properties import URLS

POLICY = AddressPolicy(allow_http=True)


def _parsed_or_refused(url: str) -> WebhookUrl | None:
    try:
        return POLICY.check_url(url)
    except Refused:
        return None


@settings(max_examples=1500, deadline=None, database=None)
@given(URLS.filter(lambda value: isinstance(value, str)) | st.text())
def test_any_text_parses_or_is_refused_and_what_parses_is_stable(url: str) -> None:
    parsed = _parsed_or_refused(url)
    if parsed is None:
        return
    assert parsed.host.isascii() and parsed.host == parsed.host.lower()
    assert 1 <= parsed.port <= 65535
    assert parse_url(parsed.url) == parsed
    if ":" not in parsed.host:
        parsed.host.encode("idna")  # what getaddrinfo does with a name
    assert yarl.URL(parsed.url).raw_host is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://a..example/hook",
        f"https://{'a' * 64}.example/hook",
        f"https://{'a' * 250}.example/hook",
        "https://.example/hook",
        "https://./hook",
        "https://a.example:0/hook",
        "https://a.example:65536/hook",
        "https://a.example:-1/hook",
        "https://[zz]/hook",
        "https://-a.example/hook",
        "https://exa\u2100mple.example/hook",
        "https://a%00.example/hook",
        "https:///hook",
        "not a url",
    ],
)
def test_what_cannot_be_parsed_is_malformed(url: str) -> None:
    with pytest.raises(Malformed):
        POLICY.check_url(url)


@pytest.mark.parametrize(
    ("url", "written"),
    [
        ("https://Hooks.Example/bw", "https://hooks.example/bw"),
        ("https://bücher.example/x?y=1", "https://xn--bcher-kva.example/x?y=1"),
        ("https://example.com./hook", "https://example.com/hook"),
        (f"https://{'a' * 63}.example/", f"https://{'a' * 63}.example/"),
        ("https://[::FFFF:10.0.0.1]:8443/h", "https://[::ffff:a00:1]:8443/h"),
        ("HTTPS://a.example", "https://a.example"),
    ],
)
def test_a_host_is_kept_in_ascii(url: str, written: str) -> None:
    assert POLICY.check_url(url).url == written
