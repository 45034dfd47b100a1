"""The issuer's key ring: the configured one (BW_CREDENTIAL_KEYS), or in development, when none is
configured, a key generated once and kept in the service's schema (`credential_key`) so that a
restart keeps verifying what it issued. A `Lifecycle` component: the ring is ready before the
service serves."""

from __future__ import annotations

import logging

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.credentials.keys import KeyRing, SigningKey
from services.assessment.tables import SCHEMA, credential_key

log = logging.getLogger("services.assessment.credentials")

# one generator at a time across replicas sharing a development database
_GENERATE_LOCK = "credential-key:generate"


class IssuerKeys:
    """The ring the service signs with; `start` loads (or in development, generates) it."""

    def __init__(self, configured: KeyRing | None, engine: AsyncEngine) -> None:
        self._ring = configured
        self._engine = engine

    @property
    def ring(self) -> KeyRing:
        if self._ring is None:
            raise RuntimeError("the credential keys are not loaded yet (IssuerKeys.start)")
        return self._ring

    async def start(self) -> None:
        if self._ring is None:
            self._ring = await development_ring(self._engine)

    async def stop(self) -> None:
        return None


async def development_ring(engine: AsyncEngine) -> KeyRing:
    """The development key kept in the schema, generated (and said so) the first time."""
    async with engine.begin() as connection:
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": _GENERATE_LOCK}
        )
        rows = (
            await connection.execute(
                select(credential_key.c.private_jwk).order_by(credential_key.c.created_at.desc())
            )
        ).all()
        if rows:
            return KeyRing.of([SigningKey.from_jwk(row.private_jwk) for row in rows])
        key = SigningKey.generate()
        await connection.execute(
            insert(credential_key).values(kid=key.kid, private_jwk=key.private_jwk())
        )
    log.warning(
        "BW_CREDENTIAL_KEYS is unset: generated the development credential signing key %s and "
        "kept it in %s.credential_key (development only; production refuses to start without "
        "keys)",
        key.kid,
        SCHEMA,
    )
    return KeyRing.of([key])
