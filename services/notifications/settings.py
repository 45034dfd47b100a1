"""Settings of the notifications service: the shared ones plus delivery (timeout, retry schedule,
per-endpoint limits), secrets at rest, the SSRF allow-list, the CAs receivers' certificates are
verified against, the hold window for events whose grant has not arrived, and payload retention."""

from __future__ import annotations

import ssl

import httpx
from pydantic import Field, model_validator

from libs.servicekit.settings import ServiceSettings
from services.notifications.adapters.secretbox import DEV_KEY, SecretBox
from services.notifications.domain.delivery import STANDARD_SCHEDULE, Schedule, parse_schedule
from services.notifications.domain.endpoint import MAX_OVERLAP_SECONDS
from services.notifications.domain.ssrf import AddressPolicy


class NotificationsSettings(ServiceSettings):
    service_name: str = "notifications"
    port: int = Field(8004, validation_alias="PORT")
    # Fernet keys (comma-separated): the first encrypts new secrets, every one decrypts. Empty
    # means the documented development key, which only development accepts.
    secret_keys: str = Field("", validation_alias="BW_WEBHOOK_SECRET_KEYS")
    # CIDRs webhooks may reach whatever their class (e.g. 127.0.0.0/8 for local runs and tests)
    allow: str = Field("", validation_alias="BW_WEBHOOK_ALLOW")
    allow_http: bool = Field(False, validation_alias="BW_WEBHOOK_ALLOW_HTTP")
    # PEM file of the CAs that receivers' certificates must chain to; empty: the system's store
    ca_bundle: str = Field("", validation_alias="BW_WEBHOOK_CA_BUNDLE")
    timeout_seconds: float = Field(
        15.0, gt=0, le=120, validation_alias="BW_WEBHOOK_TIMEOUT_SECONDS"
    )
    retry_schedule: str = Field(
        ",".join(f"{delay:g}" for delay in STANDARD_SCHEDULE),
        validation_alias="BW_WEBHOOK_RETRY_SCHEDULE",
    )
    retry_jitter: float = Field(0.2, ge=0, lt=1, validation_alias="BW_WEBHOOK_RETRY_JITTER")
    rotation_overlap_seconds: int = Field(
        86400, ge=0, le=MAX_OVERLAP_SECONDS, validation_alias="BW_WEBHOOK_ROTATION_OVERLAP_SECONDS"
    )
    endpoint_concurrency: int = Field(
        4, ge=1, le=100, validation_alias="BW_WEBHOOK_ENDPOINT_CONCURRENCY"
    )
    endpoint_rate_per_second: float = Field(
        50.0, gt=0, validation_alias="BW_WEBHOOK_ENDPOINT_RATE_PER_SECOND"
    )
    max_in_flight: int = Field(512, ge=1, validation_alias="BW_WEBHOOK_MAX_IN_FLIGHT")
    poll_seconds: float = Field(1.0, gt=0, validation_alias="BW_WEBHOOK_POLL_SECONDS")
    # a claimed message is due again this long after its attempt's timeout if no outcome was
    # recorded (its process died, or stalled that long): what a crash mid-delivery costs
    lease_margin_seconds: float = Field(
        30.0, gt=0, validation_alias="BW_WEBHOOK_LEASE_MARGIN_SECONDS"
    )
    payload_retention_days: float = Field(
        30.0, gt=0, validation_alias="BW_WEBHOOK_PAYLOAD_RETENTION_DAYS"
    )
    purge_interval_seconds: float = Field(
        3600.0, gt=0, validation_alias="BW_WEBHOOK_PURGE_INTERVAL_SECONDS"
    )
    # a factory event that an interested buyer had no grant for waits this long for the grant
    # (buyer sharing's stream is not ordered with the others), then is dropped
    hold_seconds: float = Field(600.0, ge=0, le=86400, validation_alias="BW_WEBHOOK_HOLD_SECONDS")
    dispatch: bool = Field(True, validation_alias="BW_WEBHOOK_DISPATCH")
    # endpoints a buyer may have at once (deleted ones do not count)
    max_endpoints_per_buyer: int = Field(
        20, ge=1, le=10_000, validation_alias="BW_WEBHOOK_MAX_ENDPOINTS_PER_BUYER"
    )
    # a factory's event is sent only while buyer sharing's consent watermark is at most this old
    # (by the database's clock; the watermark comes every BW_CONSENT_WATERMARK_SECONDS, 5 s):
    # past it, deliveries wait (docs/notifications.md, "Consent at the moment of sending")
    consent_max_staleness_seconds: float = Field(
        30.0, gt=0, le=86400, validation_alias="BW_CONSENT_MAX_STALENESS_SECONDS"
    )

    @model_validator(mode="after")
    def _checked(self) -> NotificationsSettings:
        self.schedule()
        self.address_policy()
        self.tls_context()
        if not self.secret_keys:
            if not self.is_development:
                raise ValueError(
                    "BW_WEBHOOK_SECRET_KEYS must be set outside development (Fernet keys that "
                    "encrypt webhook secrets at rest)"
                )
            self.secret_keys = DEV_KEY
        keys = self.encryption_keys()
        if DEV_KEY in keys and not self.is_development:
            raise ValueError(
                "BW_WEBHOOK_SECRET_KEYS holds the documented development key, which anyone can "
                "read: outside development set private Fernet keys (Fernet.generate_key())"
            )
        try:
            SecretBox(keys)
        except ValueError:
            raise ValueError(
                "BW_WEBHOOK_SECRET_KEYS must be Fernet keys (32 url-safe base64-encoded bytes "
                "each, comma-separated)"
            ) from None
        return self

    def schedule(self) -> Schedule:
        return Schedule(parse_schedule(self.retry_schedule), self.retry_jitter)

    def address_policy(self) -> AddressPolicy:
        return AddressPolicy.parse(self.allow.split(","), allow_http=self.allow_http)

    def tls_context(self) -> ssl.SSLContext:
        """Certificates are always verified (against the URL's host name, sent as SNI): with
        `BW_WEBHOOK_CA_BUNDLE` against those CAs, otherwise against the system's store (httpx's
        certifi bundle where the system has none, as in slim images)."""
        if self.ca_bundle:
            try:
                return ssl.create_default_context(cafile=self.ca_bundle)
            except (OSError, ssl.SSLError) as error:
                raise ValueError(f"BW_WEBHOOK_CA_BUNDLE cannot be read: {error}") from None
        context = ssl.create_default_context()
        if not context.cert_store_stats().get("x509_ca"):
            return httpx.create_ssl_context()  # certifi's bundle
        return context

    def encryption_keys(self) -> list[str]:
        return [key.strip() for key in self.secret_keys.split(",") if key.strip()]
