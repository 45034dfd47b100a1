"""The TLS path of deliveries: the transport connects to the address it checked (127.0.0.1,
allowed for tests) while TLS sends the URL's host name as SNI and verifies the receiver's
certificate against it, with the CA given by BW_WEBHOOK_CA_BUNDLE. A certificate for another
name fails even though the address is the same; so does a CA that is not trusted."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks import Webhook

from services.notifications.adapters.transport import WebhookClient
from services.notifications.domain.messages import webhook_body
from services.notifications.domain.ssrf import AddressPolicy
from services.notifications.settings import NotificationsSettings
from services.notifications.tests.integration.conftest import Running, make_settings, running
from services.notifications.tests.receiver import Receiver

pytestmark = pytest.mark.timeout(60)

HOST = "hooks.bw-test.example"
OTHER_HOST = "other.bw-test.example"  # resolves to the same address; not in the certificate


async def resolve_to_loopback(host: str, _port: int) -> list[str]:
    if host in (HOST, OTHER_HOST):
        return ["127.0.0.1"]
    raise AssertionError(f"unexpected lookup of {host}")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass
class Certificates:
    ca_bundle: Path
    server_context: ssl.SSLContext
    sni: list[str | None]


def _issue(tmp_path: Path, tag: str) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for HOST signed by it; PEM files."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(f"bw test CA {tag}"))
        .issuer_name(_name(f"bw test CA {tag}"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name(HOST))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (tmp_path / f"{tag}-{n}.pem" for n in ("ca", "cert", "key"))
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    ca_path, cert_path, key_path = _issue(tmp_path, "trusted")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    sni: list[str | None] = []

    def remember(_socket: object, server_name: str | None, _context: object) -> None:
        sni.append(server_name)

    context.sni_callback = remember
    return Certificates(ca_path, context, sni)


@pytest.fixture
async def tls_service(
    settings: NotificationsSettings, certificates: Certificates
) -> AsyncIterator[Running]:
    values = {**settings.model_dump(by_alias=False), "ca_bundle": str(certificates.ca_bundle)}
    async for service in running(make_settings(**values), resolver=resolve_to_loopback):
        yield service


async def test_delivery_over_tls_verifies_the_certificate_for_the_urls_host(
    tls_service: Running, certificates: Certificates
) -> None:
    service = tls_service
    async with Receiver(tls=certificates.server_context) as receiver:
        good = await service.register("brand-a", f"https://{HOST}:{receiver.port}/hook")
        wrong = await service.register("brand-b", f"https://{OTHER_HOST}:{receiver.port}/hook")
        await service.granted("fac-1", "brand-a")
        await service.granted("fac-1", "brand-b")
        event = service.upstream.completed("fac-1")
        await service.publish(event)
        await receiver.wait_for(lambda: len(receiver.requests) == 1)
        [request] = receiver.requests
        assert request.headers["host"] == f"{HOST}:{receiver.port}"
        assert request.body == webhook_body(event)
        Webhook(good["secret"]).verify(request.body, request.headers)
        assert HOST in certificates.sni  # the name went out as SNI, not the address
        # the same address under a name the certificate does not carry: refused by TLS
        await service.wait_until(
            "SELECT count(*) FROM {S}.attempt WHERE endpoint_id = :e AND error LIKE '%CERTIFICATE%'",
            1,
            e=wrong["endpoint_id"],
        )
        error = await service.scalar(
            "SELECT min(error) FROM {S}.attempt WHERE endpoint_id = :e", e=wrong["endpoint_id"]
        )
        assert "certificate verify failed" in error.lower() and OTHER_HOST in error, error
        assert len(receiver.requests) == 1  # nothing reached the receiver for the wrong name
        await service.wait_until(
            "SELECT status FROM {S}.message WHERE endpoint_id = :e",
            "succeeded",
            e=good["endpoint_id"],
        )


async def test_a_certificate_from_an_untrusted_ca_fails(
    tmp_path: Path, certificates: Certificates
) -> None:
    """Transport level: the system's store (the default) does not trust the test CA, and a
    bundle of another CA does not either; the trusted bundle does."""
    policy = AddressPolicy.parse(["127.0.0.0/8"])
    other_ca, _cert, _key = _issue(tmp_path, "other")
    async with Receiver(tls=certificates.server_context) as receiver:
        url = f"https://{HOST}:{receiver.port}/hook"
        for bundle, delivered in (("", False), (str(other_ca), False), (None, True)):
            ca = str(certificates.ca_bundle) if bundle is None else bundle
            settings = NotificationsSettings(environment="development", ca_bundle=ca)
            client = WebhookClient(
                policy, resolver=resolve_to_loopback, verify=settings.tls_context()
            )
            try:
                async with asyncio.timeout(5):
                    if delivered:
                        answer = await client.post(url, b"{}", {})
                        assert answer.status_code == 200
                    else:
                        with pytest.raises(
                            aiohttp.ClientConnectorCertificateError,
                            match="CERTIFICATE_VERIFY_FAILED",
                        ):
                            await client.post(url, b"{}", {})
            finally:
                await client.aclose()
        assert len(receiver.requests) == 1
