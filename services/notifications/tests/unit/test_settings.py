"""Issue 22, finding 6: the documented development key for webhook secrets is refused outside
development; the service does not start, and says which variable to set."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from services.notifications.adapters.secretbox import DEV_KEY
from services.notifications.settings import NotificationsSettings

PRIVATE_JWT_SECRET = "a-private-secret-of-at-least-thirty-two-bytes"
PRIVATE_KEY = "q1Ffx8bqRkqkSdyS8DgUzVn6mEyrmJmI9Tc1fOMJ1x8="  # a Fernet key no one uses


def production(**values: object) -> NotificationsSettings:
    return NotificationsSettings(
        environment="production",
        jwt_secret=PRIVATE_JWT_SECRET,
        **values,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("keys", [DEV_KEY, f"{PRIVATE_KEY},{DEV_KEY}", f" {DEV_KEY} "])
def test_the_development_key_is_refused_outside_development(keys: str) -> None:
    with pytest.raises(ValidationError, match="BW_WEBHOOK_SECRET_KEYS"):
        production(secret_keys=keys)


def test_no_key_at_all_is_refused_outside_development() -> None:
    with pytest.raises(ValidationError, match="BW_WEBHOOK_SECRET_KEYS"):
        production()


def test_a_key_that_is_not_a_fernet_key_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValidationError, match="BW_WEBHOOK_SECRET_KEYS"):
        production(secret_keys="not-a-key")


def test_a_private_key_is_accepted_and_development_keeps_its_default() -> None:
    key = Fernet.generate_key().decode()
    assert production(secret_keys=key).encryption_keys() == [key]
    development = NotificationsSettings(environment="development")
    assert development.encryption_keys() == [DEV_KEY]
