"""Settings of the buyer sharing service: the shared ones plus the consent watermark's interval,
the public pages' cache lifetime, per-client rate limit and trusted proxies, and the limit of open
access requests per buyer."""

from __future__ import annotations

from pydantic import Field, field_validator

from libs.servicekit.settings import ServiceSettings
from services.buyer_sharing.ratelimit import Network, trusted_networks


class BuyerSharingSettings(ServiceSettings):
    service_name: str = "buyer_sharing"
    port: int = Field(8003, validation_alias="PORT")
    # how often the relay publishes the consent watermark after draining the outbox (contract.py)
    consent_watermark_seconds: float = Field(
        5.0, gt=0, le=3600, validation_alias="BW_CONSENT_WATERMARK_SECONDS"
    )
    # pending access requests a buyer may have at once; beyond it a 409 (too-many-open-requests)
    max_open_access_requests: int = Field(
        100, ge=1, le=100_000, validation_alias="BW_MAX_OPEN_ACCESS_REQUESTS"
    )
    # public transparency pages: how long shared caches may keep an answer
    transparency_max_age_seconds: int = Field(
        300, ge=0, validation_alias="BW_TRANSPARENCY_MAX_AGE_SECONDS"
    )
    # per client address: a steady rate and a burst (token bucket); 429 with Retry-After beyond
    transparency_rate_per_second: float = Field(
        5.0, gt=0, validation_alias="BW_TRANSPARENCY_RATE_PER_SECOND"
    )
    transparency_burst: int = Field(30, ge=1, validation_alias="BW_TRANSPARENCY_BURST")
    # the proxies whose X-Forwarded-For is believed (CIDRs or addresses, comma-separated: the
    # ingress controller's pods); empty: none, the client is the TCP peer (ratelimit.py)
    trusted_proxies: str = Field("", validation_alias="BW_TRUSTED_PROXIES")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        trusted_networks(value)  # a ValueError naming what is not a network
        return value

    def trusted_proxy_networks(self) -> tuple[Network, ...]:
        return trusted_networks(self.trusted_proxies)
