"""The event store's hash chain: every stored event carries the hash of its predecessor in its
stream and its own, computed by a trigger of the event table so that every writer (the append
statement, the advisory appender, a COPY) is chained; and the Merkle tree of every stream's head
that a signed tree head commits to (docs/history-chain.md).

    hash = SHA-256(prev_hash (32 bytes) || canonical(stream_id, version, event_id, event_type,
                                                       subject, data, metadata, recorded_at))

The canonical form is each field as UTF-8 text preceded by its length in bytes (4 bytes, big
endian): the version in decimal, the event id as PostgreSQL prints a uuid, data and metadata as
PostgreSQL prints jsonb (deterministic: keys ordered, one space after `:` and `,`), recorded_at in
UTC as `YYYY-MM-DDTHH:MM:SS.ffffffZ`. A stream's first event follows 64 zeros.
"""

from __future__ import annotations

import bisect
import hashlib
import struct
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from libs.events.store import checked_schema

GENESIS = "0" * 64
"""The prev_hash of a stream's first event."""

_GENESIS_BYTES = bytes(32)
_LENGTH = struct.Struct(">I").pack
_LEAF = b"\x00"
_NODE = b"\x01"


def canonical_time(recorded_at: datetime) -> str:
    """recorded_at as the chain hashes it (UTC, microseconds, `Z`)."""
    return recorded_at.astimezone(UTC).replace(tzinfo=None).isoformat("T", "microseconds") + "Z"


def event_hash(
    prev_hash: str,
    stream_id: str,
    version: int,
    event_id: str,
    event_type: str,
    subject: str,
    data: str,
    metadata: str,
    recorded_at: datetime,
) -> str:
    """The hash of an event (hex) after `prev_hash` (hex); `data` and `metadata` are the jsonb
    columns as PostgreSQL prints them (`data::text`)."""
    parts = [bytes.fromhex(prev_hash)]
    for value in (
        stream_id,
        str(version),
        event_id,
        event_type,
        subject,
        data,
        metadata,
        canonical_time(recorded_at),
    ):
        encoded = value.encode()
        parts.append(_LENGTH(len(encoded)))
        parts.append(encoded)
    return hashlib.sha256(b"".join(parts)).hexdigest()


def merkle_root(leaves: Sequence[tuple[str, str]]) -> str:
    """The RFC 6962 Merkle tree hash (hex) of the streams' heads, `leaves` = (stream id, head
    hash hex) sorted by stream id: leaf = SHA-256(0x00 || stream id || head hash (32 bytes)),
    node = SHA-256(0x01 || left || right), the left subtree the largest power of two below n.
    The empty tree's root is SHA-256 of nothing."""
    sha256 = hashlib.sha256
    level = [
        sha256(_LEAF + stream_id.encode() + bytes.fromhex(head)).digest()
        for stream_id, head in leaves
    ]
    if not level:
        return sha256(b"").hexdigest()
    # Pairing neighbours bottom-up, an odd node carried up unchanged, gives RFC 6962's tree:
    # its split at the largest power of two keeps every left subtree perfect.
    while len(level) > 1:
        paired = [
            sha256(_NODE + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0].hex()


class MerkleTree:
    """The same root as `merkle_root`, kept between roots so that the next one costs what
    changed: a changed stream's head recomputes its path (log n hashes), a new stream the tree
    to the right of it. Perfect subtrees are aligned on their size, so those left of the first
    new stream are kept; the root folds the perfect subtrees of n's binary decomposition."""

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._index: dict[str, int] = {}
        self._levels: list[list[bytes]] = [[]]  # level j: the hashes of complete 2**j blocks
        self._new: dict[str, bytes] = {}
        self._changed: set[int] = set()

    def __len__(self) -> int:
        return len(self._ids) + len(self._new)

    def set(self, stream_id: str, head: str) -> None:
        """The stream's head hash is now `head` (hex)."""
        leaf = hashlib.sha256(_LEAF + stream_id.encode() + bytes.fromhex(head)).digest()
        index = self._index.get(stream_id)
        if index is None:
            self._new[stream_id] = leaf
        else:
            self._levels[0][index] = leaf
            self._changed.add(index)

    def root(self) -> str:
        leaves = self._levels[0]
        rebuild_from = len(leaves)
        if self._new:
            added = sorted(self._new)
            rebuild_from = bisect.bisect_left(self._ids, added[0])
            kept = {
                stream_id: leaves[index]
                for index, stream_id in enumerate(self._ids[rebuild_from:], start=rebuild_from)
            }
            kept.update(self._new)
            tail = sorted(kept)
            self._ids[rebuild_from:] = tail
            leaves[rebuild_from:] = [kept[stream_id] for stream_id in tail]
            for index, stream_id in enumerate(tail, start=rebuild_from):
                self._index[stream_id] = index
            self._new.clear()
        changed = {index for index in self._changed if index < rebuild_from}
        self._changed.clear()
        sha256, levels = hashlib.sha256, self._levels
        level = 0
        while len(levels[level]) >= 2:
            below = levels[level]
            if level + 1 == len(levels):
                levels.append([])
            above = levels[level + 1]
            start = rebuild_from >> (level + 1)
            parents = {index >> 1 for index in changed if index >> 1 < start}
            for parent in parents:
                above[parent] = sha256(_NODE + below[2 * parent] + below[2 * parent + 1]).digest()
            del above[start:]
            above.extend(
                sha256(_NODE + below[2 * parent] + below[2 * parent + 1]).digest()
                for parent in range(start, len(below) // 2)
            )
            changed = parents
            level += 1
        count = len(leaves)
        if not count:
            return sha256(b"").hexdigest()
        blocks, start = [], 0
        for height in range(count.bit_length() - 1, -1, -1):
            if count >> height & 1:
                blocks.append(levels[height][start >> height])
                start += 1 << height
        root = blocks[-1]
        for block in reversed(blocks[:-1]):
            root = sha256(_NODE + block + root).digest()
        return root.hex()


# --- the trigger and the chain of an existing history (migrations) -------------------------------


def _ddl(schema: str) -> list[str]:
    s = checked_schema(schema)
    return [
        # one field of the canonical form: its UTF-8 length (4 bytes, big endian), then its bytes
        f"""
        CREATE OR REPLACE FUNCTION "{s}".event_chain_field(value text) RETURNS bytea
        LANGUAGE sql STABLE STRICT PARALLEL SAFE
        AS $$ SELECT int4send(octet_length(convert_to(value, 'UTF8'))) || convert_to(value, 'UTF8') $$
        """,
        f"""
        CREATE OR REPLACE FUNCTION "{s}".event_chain_hash(
            prev bytea, stream_id text, version integer, event_id uuid, event_type text,
            subject text, data jsonb, metadata jsonb, recorded_at timestamptz
        ) RETURNS bytea
        LANGUAGE sql STABLE STRICT PARALLEL SAFE
        AS $$ SELECT sha256(prev
            || "{s}".event_chain_field(stream_id)
            || "{s}".event_chain_field(version::text)
            || "{s}".event_chain_field(event_id::text)
            || "{s}".event_chain_field(event_type)
            || "{s}".event_chain_field(subject)
            || "{s}".event_chain_field(data::text)
            || "{s}".event_chain_field(metadata::text)
            || "{s}".event_chain_field(
                to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))) $$
        """,
        # every insert, whoever writes it: the predecessor's hash is read in the same statement's
        # view (rows the statement inserted before this one are visible to a volatile function),
        # so several versions of a stream inserted at once chain in the order they are given
        f"""
        CREATE OR REPLACE FUNCTION "{s}".event_chain_link() RETURNS trigger
        LANGUAGE plpgsql VOLATILE
        AS $$
        DECLARE
            previous bytea;
            data text := NEW.data::text;  -- printed once: a document may be large
            metadata text := NEW.metadata::text;
        BEGIN
            IF NEW.version = 1 THEN
                previous := '\\x{GENESIS}'::bytea;
            ELSE
                SELECT decode(e.hash, 'hex') INTO previous FROM "{s}".event e
                WHERE e.stream_id = NEW.stream_id AND e.version = NEW.version - 1;
                IF previous IS NULL THEN
                    RAISE EXCEPTION 'event chain: stream % has no version % before %',
                        NEW.stream_id, NEW.version - 1, NEW.version
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
            END IF;
            NEW.prev_hash := encode(previous, 'hex');
            -- one expression, not the SQL functions above: those are not inlined into a
            -- trigger's expressions and would be planned again in every transaction, and each
            -- expression of a trigger costs again in every transaction (the lengths are of the
            -- UTF-8 text: the database's encoding, checked when the chain is installed)
            NEW.hash := encode(sha256(previous
                || int4send(octet_length(NEW.stream_id)) || convert_to(NEW.stream_id, 'UTF8')
                || int4send(octet_length(NEW.version::text))
                || convert_to(NEW.version::text, 'UTF8')
                || int4send(octet_length(NEW.event_id::text))
                || convert_to(NEW.event_id::text, 'UTF8')
                || int4send(octet_length(NEW.event_type)) || convert_to(NEW.event_type, 'UTF8')
                || int4send(octet_length(NEW.subject)) || convert_to(NEW.subject, 'UTF8')
                || int4send(octet_length(data)) || convert_to(data, 'UTF8')
                || int4send(octet_length(metadata)) || convert_to(metadata, 'UTF8')
                || int4send(octet_length(to_char(NEW.recorded_at AT TIME ZONE 'UTC',
                    'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')))
                || convert_to(to_char(NEW.recorded_at AT TIME ZONE 'UTC',
                    'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'UTF8')), 'hex');
            RETURN NEW;
        END
        $$
        """,
        # a running hash over a stream's events in version order (the migration's chain)
        f"""
        CREATE OR REPLACE FUNCTION "{s}".event_chain_step(state bytea, event bytea) RETURNS bytea
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT sha256(state || event) $$
        """,
        f"""
        CREATE OR REPLACE AGGREGATE "{s}".event_chain_fold(bytea) (
            SFUNC = "{s}".event_chain_step, STYPE = bytea, INITCOND = '\\x{GENESIS}'
        )
        """,
        f'DROP TRIGGER IF EXISTS event_chain ON "{s}".event',
        f"""
        CREATE TRIGGER event_chain BEFORE INSERT ON "{s}".event
        FOR EACH ROW EXECUTE FUNCTION "{s}".event_chain_link()
        """,
    ]


def _chain_existing_sql(schema: str) -> str:
    """Every event's chain in one query, in stream and version order: the canonical form of
    each event without its predecessor folded by a running aggregate per stream."""
    s = checked_schema(schema)

    def field(value: str) -> str:
        return f"int4send(octet_length({value})) || convert_to({value}, 'UTF8')"

    recorded = "to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    # the expression inline (the helper functions are not inlined where a value is used twice)
    canonical = " || ".join(
        field(value)
        for value in (
            "e.stream_id",
            "e.version::text",
            "e.event_id::text",
            "e.event_type",
            "e.subject",
            "e.data_text",
            "e.metadata_text",
            recorded,
        )
    )
    return f"""
        WITH chained AS (
            SELECT stream_id, version,
                   "{s}".event_chain_fold({canonical}) OVER (
                       PARTITION BY stream_id ORDER BY version
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS hash
            FROM (SELECT stream_id, version, event_id, event_type, subject, recorded_at,
                         data::text AS data_text, metadata::text AS metadata_text
                  FROM "{s}".event ORDER BY stream_id, version
                  OFFSET 0) e  -- each document printed once, not once per use
        ), linked AS (
            SELECT stream_id, version, hash,
                   lag(hash, 1, '\\x{GENESIS}'::bytea) OVER (
                       PARTITION BY stream_id ORDER BY version) AS prev_hash
            FROM chained
        )
        SELECT stream_id, version, encode(prev_hash, 'hex') AS prev_hash,
               encode(hash, 'hex') AS hash
        FROM linked
        """


def _chain_existing(connection: Connection, s: str) -> None:
    """Write the chain of every event: computed into a temporary table in the primary key's
    order, then one UPDATE with the event table's indexes dropped and built again afterwards
    (every row is rewritten: maintaining three indexes row by row was most of the time)."""
    connection.execute(text("DROP TABLE IF EXISTS pg_temp.event_chain_new"))
    connection.execute(
        text(f"CREATE TEMPORARY TABLE event_chain_new ON COMMIT DROP AS {_chain_existing_sql(s)}")
    )
    table = f'"{s}".event'
    constraints = connection.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:table AS regclass) AND contype IN ('p', 'u') ORDER BY conname"
        ),
        {"table": table},
    ).all()
    indexes = connection.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :schema "
            "AND tablename = 'event' AND indexname <> ALL(:constraints) ORDER BY indexname"
        ),
        {"schema": s, "constraints": [name for name, _definition in constraints]},
    ).all()
    for name, _definition in indexes:
        connection.execute(text(f'DROP INDEX "{s}"."{name}"'))
    for name, _definition in constraints:
        connection.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    connection.execute(
        text(
            f"UPDATE {table} e SET prev_hash = n.prev_hash, hash = n.hash FROM event_chain_new n "
            "WHERE e.stream_id = n.stream_id AND e.version = n.version"
        )
    )
    for name, definition in constraints:
        connection.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
    for _name, definition in indexes:
        connection.execute(text(definition))


def install_hash_chain(connection: Connection, schema: str) -> None:
    """Chain `schema`'s event table (a migration, `op.get_bind()`; run again it changes nothing):
    the hash columns, the trigger, the tree-head tables, and the chain of the events already
    there, computed once. The table is locked against writers meanwhile, so no event escapes it.
    A stream whose versions do not start at 1 and follow each other fails the migration."""
    from libs.events.tables import NAMING_CONVENTION, define_tree_head_tables

    s = checked_schema(schema)
    encoding = connection.execute(text("SHOW server_encoding")).scalar()
    if encoding != "UTF8":
        raise RuntimeError(f"event chain: the database's encoding is {encoding}, not UTF8")
    connection.execute(text(f'LOCK TABLE "{s}".event IN SHARE ROW EXCLUSIVE MODE'))
    connection.execute(
        text(
            f'ALTER TABLE "{s}".event ADD COLUMN IF NOT EXISTS prev_hash varchar(64), '
            "ADD COLUMN IF NOT EXISTS hash varchar(64)"
        )
    )
    for statement in _ddl(s):
        connection.execute(text(statement))
    unchained = connection.execute(
        text(f'SELECT EXISTS (SELECT 1 FROM "{s}".event WHERE hash IS NULL)')
    ).scalar()
    if unchained:
        broken = connection.execute(
            text(
                f"""
                SELECT stream_id FROM "{s}".event GROUP BY stream_id
                HAVING min(version) <> 1 OR max(version) <> count(*) LIMIT 1
                """
            )
        ).scalar()
        if broken is not None:
            raise RuntimeError(f"event chain: stream {broken!r} has a gap in its versions")
        _chain_existing(connection, s)
    connection.execute(
        text(
            f'ALTER TABLE "{s}".event ALTER COLUMN prev_hash SET NOT NULL, '
            "ALTER COLUMN hash SET NOT NULL"
        )
    )
    metadata = MetaData(schema=s, naming_convention=NAMING_CONVENTION)
    define_tree_head_tables(metadata)
    metadata.create_all(connection)


def remove_hash_chain(connection: Connection, schema: str) -> None:
    """Undo `install_hash_chain` (a migration's downgrade)."""
    from libs.events.tables import NAMING_CONVENTION, define_tree_head_tables

    s = checked_schema(schema)
    metadata = MetaData(schema=s, naming_convention=NAMING_CONVENTION)
    define_tree_head_tables(metadata)
    metadata.drop_all(connection)
    connection.execute(text(f'DROP TRIGGER IF EXISTS event_chain ON "{s}".event'))
    connection.execute(
        text(f'ALTER TABLE "{s}".event DROP COLUMN IF EXISTS prev_hash, DROP COLUMN IF EXISTS hash')
    )
    for function in (
        f'AGGREGATE IF EXISTS "{s}".event_chain_fold(bytea)',
        f'FUNCTION IF EXISTS "{s}".event_chain_step(bytea, bytea)',
        f'FUNCTION IF EXISTS "{s}".event_chain_link()',
        f'FUNCTION IF EXISTS "{s}".event_chain_hash(bytea, text, integer, uuid, text, text, jsonb, jsonb, timestamptz)',
        f'FUNCTION IF EXISTS "{s}".event_chain_field(text)',
    ):
        connection.execute(text(f"DROP {function}"))
