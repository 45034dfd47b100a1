"""Which addresses a webhook may reach (pure): only globally routable unicast addresses, unless an
operator allow-list says otherwise. IPv4 addresses hidden inside IPv6 forms (IPv4-mapped, NAT64
64:ff9b::/96, 6to4, Teredo) are judged by the IPv4 address they carry.

A URL is parsed once, at the edge (`parse_url`): its host becomes ASCII (an address literal as
such, a name IDNA-encoded label by label, each label 1 to 63 characters of letters, digits,
hyphens and underscores, the whole at most 253), so nothing later (the resolver, the HTTP client)
meets a name it cannot encode. What cannot be parsed is `Malformed` (a 422 `invalid-url`); what
parses but may not be reached is `Refused` (a 422 `unsafe-url`).

The transport (adapters/transport.py) applies this to every address a host name resolves to, at
registration and again at connection time, and connects to the address it checked.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64 prefix (RFC 6052)
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # local-use NAT64 (RFC 8215)


class Refused(Exception):
    """The URL or one of the addresses its host resolves to may not be reached."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Malformed(Refused):
    """The URL cannot be parsed, or its host is no valid name or address."""


# a label once IDNA-encoded: letters, digits, hyphens (not at either end) and underscores
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
MAX_NAME_LENGTH = 253


@dataclass(frozen=True)
class WebhookUrl:
    """A parsed URL: its scheme, its host in ASCII (an IPv6 address without brackets), the port
    it reaches, and the URL written with that host."""

    scheme: str
    host: str
    port: int
    url: str


def ascii_host(name: str) -> str:
    """The host as an address literal or as an IDNA-encoded, lower-case name; `Malformed` if it
    is neither."""
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    encoded: list[str] = []
    for label in labels:
        if not label:
            raise Malformed(f"the host {name!r} has an empty label")
        try:
            ascii_label = label.encode("idna").decode("ascii").lower()
        except UnicodeError as error:
            raise Malformed(f"the host {name!r} is not a valid name: {error}") from None
        if not _LABEL.match(ascii_label):
            raise Malformed(f"the host {name!r} has an invalid label {label!r}")
        encoded.append(ascii_label)
    host = ".".join(encoded)
    if len(host) > MAX_NAME_LENGTH:
        raise Malformed(f"the host name is longer than {MAX_NAME_LENGTH} characters")
    return host


def parse_url(url: str) -> WebhookUrl:
    """Scheme, ASCII host and port of `url`, and the URL written with that host; `Malformed`
    when any part cannot be parsed (an empty or over-long label, a port out of 1 to 65535,
    a bracketed host that is no IPv6 address)."""
    try:
        parts = urlsplit(url)
        port = parts.port
        hostname = parts.hostname
    except ValueError as error:
        raise Malformed(f"not a valid URL: {error}") from None
    scheme = parts.scheme.lower()
    if not hostname:
        raise Malformed("the URL has no host")
    if port is not None and not 1 <= port <= 65535:
        raise Malformed(f"port {port} cannot be reached")
    host = ascii_host(hostname)
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc = f"{netloc}:{port}"
    if parts.username is not None or parts.password is not None:
        netloc = f"{parts.netloc.rpartition('@')[0]}@{netloc}"
    default = 443 if scheme == "https" else 80
    written = urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))
    return WebhookUrl(scheme, host, port or default, written)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries, if it is one of those forms."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64 or address in NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def forbidden_class(address: IPAddress) -> str | None:
    """Why the address is refused ("loopback", "private", …), or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            reason = forbidden_class(inner)
            return f"{reason} (in an IPv6 form)" if reason else None
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"  # 169.254.0.0/16 holds the cloud metadata address 169.254.169.254
    if isinstance(address, ipaddress.IPv4Address) and address in SHARED:
        return "shared address space (100.64.0.0/10)"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "not globally routable"
    return None


def is_public(address: str) -> bool:
    """Whether the address (as a socket reports a peer) is globally routable: reachable by
    anyone, not only through the operator's allow-list."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return forbidden_class(parsed) is None


@dataclass(frozen=True)
class AddressPolicy:
    """The operator's allow-list (CIDRs that may be reached whatever their class) and whether
    plain http is allowed; both empty/false in production."""

    allow: tuple[Network, ...] = ()
    allow_http: bool = False

    @classmethod
    def parse(cls, allow: Iterable[str], *, allow_http: bool = False) -> AddressPolicy:
        return cls(
            tuple(
                ipaddress.ip_network(item.strip(), strict=False) for item in allow if item.strip()
            ),
            allow_http,
        )

    def allowed(self, address: IPAddress) -> bool:
        return any(
            address in network for network in self.allow if network.version == address.version
        )

    def check_url(self, url: str) -> WebhookUrl:
        """The parsed URL (`parse_url`, `Malformed` if it cannot be) if it is acceptable;
        refuses anything but https (and http when the operator allows it) and credentials in
        the URL."""
        parsed = parse_url(url)
        if parsed.scheme != "https" and not (parsed.scheme == "http" and self.allow_http):
            raise Refused("the URL must use https")
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            raise Refused("the URL must not carry credentials")
        return parsed

    def check_addresses(self, host: str, addresses: Sequence[str]) -> list[IPAddress]:
        """Every address the host resolved to must be acceptable; returns them, parsed."""
        if not addresses:
            raise Refused(f"{host} does not resolve to any address")
        checked: list[IPAddress] = []
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            reason = None if self.allowed(address) else forbidden_class(address)
            if reason is not None:
                raise Refused(f"{host} resolves to {address}, a {reason} address")
            checked.append(address)
        return checked
