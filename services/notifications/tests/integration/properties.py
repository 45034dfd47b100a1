"""Webhook URLs for the notifications service's property tests: each part drawn from what breaks
URL parsers and resolvers. The hostile values every service shares (numbers, dates, text, JSON,
cursors) and the way to run a property on the test's loop are in `tools/hostile.py`."""

from __future__ import annotations

from hypothesis import strategies as st

from tools.hostile import ANY_JSON

# URLs: each part drawn from what breaks parsers (empty and over-long labels, unicode, bad
# ports, IPv6 literals with zones, credentials), then glued together or taken whole
LABELS = st.sampled_from(
    ["", "a", "a" * 63, "a" * 64, "-a", "a-", "a_b", "xn--", "xn--zz", "bücher", "例え", "\u2100"]
) | st.text(max_size=70)
HOSTS = st.lists(LABELS, min_size=1, max_size=4).map(".".join) | st.sampled_from(
    [
        "127.0.0.1",
        "256.1.1.1",
        "127.1",
        "[::1]",
        "[fe80::1%25eth0]",
        "[zz]",
        "::1",
        "[::ffff:10.0.0.1]",
        "a..example",
        f"{'a' * 64}.example",
        "a" * 254,
        "example.com.",
        "localhost",
    ]
)
PORTS = st.sampled_from(["", ":0", ":1", ":443", ":65535", ":65536", ":-1", ":abc", ":"])
USERINFO = st.sampled_from(["", "u@", "u:p@", ":@", "@"])
SCHEMES = st.sampled_from(["https://", "http://", "HTTPS://", "ftp://", "", "https:/", "//"])
PATHS = st.sampled_from(["", "/", "/hook", "/h?x=1#f", "/" + "p" * 2000]) | st.text(max_size=40)
URLS = (
    st.tuples(SCHEMES, USERINFO, HOSTS, PORTS, PATHS).map("".join)
    | st.text(max_size=100)
    | ANY_JSON
)
