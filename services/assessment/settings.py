"""The assessment service's settings, read from the environment once when its app is built."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from libs.credentials.did import DidError, check_did_web
from libs.credentials.keys import KeyConfigurationError, KeyRing
from libs.servicekit.settings import ServiceSettings
from services.assessment.compliance_catalogue import DEFAULT_CATALOGUE_DIRECTORY

DEV_CREDENTIAL_ISSUER = "did:web:localhost%3A8001"
# The public key of the development placeholder in deploy/k8s/overlays/dev (its private half is
# in the repository): refused outside development.
DEV_CREDENTIAL_PUBLIC_KEYS = frozenset({"ULa5waGzBzbN2kfveAf46DkA92ufo6nZMaEqkcgyd30"})


class AssessmentSettings(ServiceSettings):
    service_name: str = "assessment"
    port: int = Field(8001, validation_alias="PORT")
    catalogue_directory: Path = Field(
        DEFAULT_CATALOGUE_DIRECTORY, validation_alias="ASSESSMENT_CATALOGUE_DIRECTORY"
    )
    # The reports' verifiable credentials (docs/credentials.md): a JSON array of private Ed25519
    # JWKs, the signing key first, then every key still published for verification (a secret).
    # Development without it generates a key and keeps it in the service's schema.
    credential_keys: str = Field("", validation_alias="BW_CREDENTIAL_KEYS", repr=False)
    # The programme's did:web DID, resolved at this service's /.well-known/did.json.
    credential_issuer: str = Field("", validation_alias="BW_CREDENTIAL_ISSUER")
    credential_issuer_name: str = Field("Better Work", validation_alias="BW_CREDENTIAL_ISSUER_NAME")
    # The service's public base URL (status lists, links in the credential); empty: the DID's
    # host, over https (http for localhost).
    credential_base_url: str = Field("", validation_alias="BW_CREDENTIAL_BASE_URL")

    @model_validator(mode="after")
    def _credentials_configured(self) -> AssessmentSettings:
        """Keys and issuer are checked before the service serves; outside development both are
        required (a credential signed with a throwaway key would verify against nothing)."""
        problems = []
        if self.credential_keys:
            try:
                ring = KeyRing.from_json(self.credential_keys)
            except KeyConfigurationError as error:
                problems.append(f"BW_CREDENTIAL_KEYS: {error}")
            else:
                public = {key.public_jwk()["x"] for key in ring}
                if not self.is_development and public & DEV_CREDENTIAL_PUBLIC_KEYS:
                    problems.append(
                        "BW_CREDENTIAL_KEYS holds the development placeholder key, which is "
                        "public; generate the programme's own (docs/credentials.md)"
                    )
        elif not self.is_development:
            problems.append(
                "BW_CREDENTIAL_KEYS is unset: outside development the reports' credentials need "
                "the programme's signing keys (a JSON array of private Ed25519 JWKs)"
            )
        if self.credential_issuer:
            try:
                check_did_web(self.credential_issuer)
            except DidError as error:
                problems.append(f"BW_CREDENTIAL_ISSUER: {error}")
        elif self.is_development:
            self.credential_issuer = DEV_CREDENTIAL_ISSUER
        else:
            problems.append("BW_CREDENTIAL_ISSUER (the programme's did:web DID) is unset")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def credential_ring(self) -> KeyRing | None:
        """The configured key ring; None in development without keys (one is generated)."""
        return KeyRing.from_json(self.credential_keys) if self.credential_keys else None
