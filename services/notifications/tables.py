"""Tables of notifications (SQLAlchemy Core, schema `notifications`): the endpoint read model,
the encrypted secrets, the grant history read from buyer sharing's events and the watermark that
says as of when it is complete, the events held until their grant arrives, and the delivery state
(messages and their attempts).

Beside the tables, the schema holds one SQL function (migration 0003): `buyer_may_read(gated,
factory_id, buyer_id)`, the one rule of what a buyer may read or have sent of the message log
(`queries.readable_by`, and the dispatcher's and the commands' SQL, call it)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from libs.events.tables import NAMING_CONVENTION, define_event_store_tables
from libs.servicekit.idempotency import define_idempotency_table

SCHEMA = "notifications"
# PostgreSQL NOTIFY channel: a message was queued or made due (fan-out, redelivery, recovery)
DUE_CHANNEL = f"{SCHEMA}_due"
metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)
define_event_store_tables(metadata)
define_idempotency_table(metadata)

endpoint = Table(
    "endpoint",
    metadata,
    Column("endpoint_id", String(64), primary_key=True),
    Column("buyer_id", String(64), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("event_types", ARRAY(Text), nullable=False),
    Column("factory_ids", ARRAY(Text), nullable=True),  # null: every shared factory
    Column("description", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", String(20), nullable=True),
    Column("deleted", Boolean, nullable=False),
    Column("secret_fingerprint", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
)

webhook_secret = Table(
    "webhook_secret",
    metadata,
    Column("secret_id", String(64), primary_key=True),
    Column("endpoint_id", String(64), nullable=False, index=True),
    Column("ciphertext", LargeBinary, nullable=False),  # Fernet
    Column("fingerprint", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),  # null: the current secret
)

grant_event = Table(
    "grant_event",
    metadata,
    Column("factory_id", String(64), primary_key=True),
    Column("buyer_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),  # the grant stream's version: order-safe
    Column("kind", String(10), nullable=False),  # granted, revoked
    Column("at", DateTime(timezone=True), nullable=False),
    Column("ends_on", Date, nullable=True),
)

consent_watermark = Table(
    "consent_watermark",
    metadata,
    # one row per source of consent (buyer sharing): every grant and revocation it committed
    # before `as_of` has been applied here
    Column("source", String(64), primary_key=True),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

message = Table(
    "message",
    metadata,
    Column("message_id", String(64), primary_key=True),  # the webhook-id
    Column("endpoint_id", String(64), nullable=False),
    Column("buyer_id", String(64), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("factory_id", String(64), nullable=True),
    Column("gated", Boolean, nullable=False),  # needs an active grant when sent
    Column("event_time", DateTime(timezone=True), nullable=False),
    Column("payload", LargeBinary, nullable=True),  # null once past retention
    Column("created_at", DateTime(timezone=True), nullable=False),
    # pending, succeeded, failed, cancelled
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False),  # every attempt ever made
    Column("round_attempts", Integer, nullable=False),  # attempts of the current schedule
    # when the next attempt is due; while an attempt is in flight, the end of its lease
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    # bumped at every claim: an outcome is written only under the lease it was sent with
    Column("lease", Integer, nullable=False, server_default=text("0")),
    Index("message_endpoint_event", "endpoint_id", "event_id", unique=True),
    Index("message_endpoint_created", "endpoint_id", "created_at"),
    Index(
        "message_due",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
    ),
)

held_event = Table(
    "held_event",
    metadata,
    # a factory event an interested endpoint's buyer had no grant for yet (grants travel on
    # another stream): released by a later SharingGranted, dropped after `held_until`
    Column("event_id", String(64), primary_key=True),
    Column("factory_id", String(64), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("event_time", DateTime(timezone=True), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("held_at", DateTime(timezone=True), nullable=False),
    Column("held_until", DateTime(timezone=True), nullable=False),
    Index("held_event_factory", "factory_id", "held_until"),
    Index("held_event_expiry", "held_until"),
)

attempt = Table(
    "attempt",
    metadata,
    Column("attempt_id", BigInteger, primary_key=True, autoincrement=True),
    Column("message_id", String(64), nullable=False, index=True),
    Column("endpoint_id", String(64), nullable=False),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    # the first bytes of the answer, kept only when the receiver is at a public address
    Column("response_body", Text, nullable=True),
    Column("response_size", Integer, nullable=True),  # bytes of the answer read
    Column("error", Text, nullable=True),
    Column("succeeded", Boolean, nullable=False),
    Column("trigger", String(12), nullable=False),  # scheduled, manual
    Index("attempt_endpoint", "endpoint_id", "attempt_id"),
)

OWN_READ_MODELS = (endpoint,)
"""Projections of the service's own events: what `rebuild` makes again from its event history.
The rest is not: `webhook_secret` holds the secrets themselves (the events carry only their
fingerprints), `grant_event` and `consent_watermark` are read from buyer sharing's stream, and
`message`, `attempt` and `held_event` are the delivery state and log, fed by upstream events and
the dispatcher."""
