"""The event store's tables, defined once and created in each service's own schema by its migrations."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.engine import Connection

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def define_event_store_tables(metadata: MetaData) -> dict[str, Table]:
    """Add the store, outbox, snapshot, inbox and dead-letter tables to a service's MetaData."""
    stream = Table(
        "stream",
        metadata,
        Column("stream_id", String(200), primary_key=True),
        Column("stream_type", String(100), nullable=False),
        Column("version", Integer, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    event = Table(
        "event",
        metadata,
        # position is for operators and ordered scans only; nobody follows it as a cursor
        Column("position", BigInteger, Identity(always=True), nullable=False, unique=True),
        Column("stream_id", String(200), nullable=False),
        Column("version", Integer, nullable=False),
        Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
        Column("event_type", String(300), nullable=False),
        Column("subject", String(200), nullable=False),
        Column("data", JSONB, nullable=False),
        Column("metadata", JSONB, nullable=False),
        Column("recorded_at", DateTime(timezone=True), nullable=False),
        # the hash chain (libs/events/chain.py): set by the table's trigger on every insert
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
        # optimistic concurrency backstop: two writers can never both hold one version
        PrimaryKeyConstraint("stream_id", "version"),
    )
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("event_id", UUID(as_uuid=False), nullable=False),
        Column("nats_subject", String(300), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        # carried as a NATS header so the consumer's span joins the producer's trace
        Column("traceparent", String(100), nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    snapshot = Table(
        "snapshot",
        metadata,
        Column("stream_id", String(200), primary_key=True),
        Column("version", Integer, nullable=False),
        Column("state", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", String(200), nullable=False),
        Column("event_id", String(200), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id"),
    )
    dead_letter = Table(
        "dead_letter",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("consumer", String(200), nullable=False),
        Column("event_id", String(200), nullable=False),
        Column("nats_subject", String(300), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("error", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("failed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("replayed_at", DateTime(timezone=True), nullable=True),
        Column("replay_error", Text, nullable=True),
    )
    return {
        "stream": stream,
        "event": event,
        "outbox": outbox,
        "snapshot": snapshot,
        "inbox": inbox,
        "dead_letter": dead_letter,
        **define_tree_head_tables(metadata),
    }


def define_tree_head_tables(metadata: MetaData) -> dict[str, Table]:
    """The signed tree heads of the hash chain (libs/events/chain.py), what each head's streams
    were where they changed since the one before (to name what a failed head lost), and the
    history signing key a development service generated for itself."""
    tree_head = Table(
        "tree_head",
        metadata,
        # the event table's position the head is as of
        Column("position", BigInteger, primary_key=True, autoincrement=False),
        Column("stream_count", Integer, nullable=False),
        Column("event_count", BigInteger, nullable=False),
        Column("root", String(64), nullable=False),
        Column("signed_at", DateTime(timezone=True), nullable=False),
        Column("kid", String(200), nullable=False),
        Column("public_key", JSONB, nullable=False),
        Column("signature", String(200), nullable=False),
    )
    tree_head_leaf = Table(
        "tree_head_leaf",
        metadata,
        Column("position", BigInteger, nullable=False),
        Column("stream_id", String(200), nullable=False),
        Column("version", Integer, nullable=False),
        Column("event_id", UUID(as_uuid=False), nullable=False),
        Column("hash", String(64), nullable=False),
        PrimaryKeyConstraint("position", "stream_id"),
    )
    history_key = Table(
        "history_key",
        metadata,
        Column("kid", String(200), primary_key=True),
        Column("private_jwk", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    return {"tree_head": tree_head, "tree_head_leaf": tree_head_leaf, "history_key": history_key}


def define_import_tables(metadata: MetaData) -> dict[str, Table]:
    """The import ledger (libs/servicekit/imports.py): one row per imported history record, so
    importing a bundle again changes nothing, and who imported what from which bundle is kept.
    For the services that import kinds of the history bundle."""
    import_record = Table(
        "import_record",
        metadata,
        Column("kind", String(40), nullable=False),
        Column("source_id", String(120), nullable=False),
        Column("digest", String(64), nullable=False),
        Column("bundle_id", String(100), nullable=False),
        Column("bundle_checksum", String(80), nullable=True),
        Column("imported_by", String(200), nullable=False),
        Column("events", Integer, nullable=False),
        Column("imported_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        # the country programme of the record (ImportBatch.scope), when the kind has one
        Column("country", String(2), nullable=True),
        PrimaryKeyConstraint("kind", "source_id"),
    )
    return {"import_record": import_record}


def create_import_tables(connection: Connection, schema: str) -> None:
    """Create the import ledger in `schema` (a service's migration, `op.get_bind()`)."""
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    define_import_tables(metadata)
    metadata.create_all(connection)


def drop_import_tables(connection: Connection, schema: str) -> None:
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    define_import_tables(metadata)
    metadata.drop_all(connection)


def create_event_store_tables(connection: Connection, schema: str) -> None:
    """Create the tables in `schema`, with the hash chain's trigger; for a service's first Alembic
    migration (`op.get_bind()`) and for tests."""
    from libs.events.chain import install_hash_chain

    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    define_event_store_tables(metadata)
    metadata.create_all(connection)
    install_hash_chain(connection, schema)


def drop_event_store_tables(connection: Connection, schema: str) -> None:
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    define_event_store_tables(metadata)
    metadata.drop_all(connection)
