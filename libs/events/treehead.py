"""Signed tree heads of the hash chain (docs/history-chain.md): the Merkle root of every stream's
head as of an event position, with the counts, signed with the service's Ed25519 history key and
kept in the `tree_head` table; and the signer that makes one every so often when new events exist.

The signature is Ed25519 over the canonical JSON (sorted keys, no spaces, UTF-8) of every member
of the head but `signature`; the head carries its public key (a JWK), so a head verifies alone,
and a verifier that knows the service's keys also knows it was signed by one of them."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.events.chain import MerkleTree, canonical_time
from libs.events.store import checked_schema

log = logging.getLogger("libs.events.treehead")

_KID = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
FORMAT = "betterwork-tree-head/1"


class HistoryKeyError(ValueError):
    """The configured history keys are not Ed25519 private JWKs."""


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class HistoryKey:
    """An Ed25519 private key that signs tree heads, with its key id."""

    kid: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> HistoryKey:
        """A new random key named by its RFC 7638 thumbprint."""
        private_key = Ed25519PrivateKey.generate()
        public = _b64url(private_key.public_key().public_bytes_raw())
        members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": public}, separators=(",", ":"))
        return cls(_b64url(hashlib.sha256(members.encode()).digest()), private_key)

    @classmethod
    def from_jwk(cls, jwk: Any) -> HistoryKey:
        """From a private JWK (`kty` OKP, `crv` Ed25519, `d`, `x`, `kid`); `x` must be the public
        key of `d`."""
        if not isinstance(jwk, dict):
            raise HistoryKeyError("a history key is not a JSON object (a private JWK)")
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not _KID.match(kid):
            raise HistoryKeyError(
                "a history key needs a kid of 1-64 characters A-Z a-z 0-9 . _ ~ -"
            )
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise HistoryKeyError(f"history key {kid!r} is not Ed25519 (kty OKP, crv Ed25519)")
        d, x = jwk.get("d"), jwk.get("x")
        if not isinstance(d, str) or not isinstance(x, str):
            raise HistoryKeyError(f"history key {kid!r} lacks its private part d or public part x")
        try:
            private_raw, public_raw = _b64url_decode(d), _b64url_decode(x)
        except (ValueError, binascii.Error):
            raise HistoryKeyError(f"history key {kid!r}: d or x is not base64url") from None
        if len(private_raw) != 32 or len(public_raw) != 32:
            raise HistoryKeyError(f"history key {kid!r}: d and x must be 32 bytes each")
        private_key = Ed25519PrivateKey.from_private_bytes(private_raw)
        if private_key.public_key().public_bytes_raw() != public_raw:
            raise HistoryKeyError(f"history key {kid!r}: x is not the public key of d")
        return cls(kid, private_key)

    def public_jwk(self) -> dict[str, str]:
        raw = self.private_key.public_key().public_bytes_raw()
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw), "kid": self.kid, "alg": "EdDSA"}

    def private_jwk(self) -> dict[str, str]:
        raw = self.private_key.private_bytes_raw()
        return {**self.public_jwk(), "d": _b64url(raw)}

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    def __repr__(self) -> str:  # never the private key in a log or a traceback
        return f"HistoryKey(kid={self.kid!r})"


def parse_history_keys(configured: str) -> list[HistoryKey]:
    """`BW_HISTORY_KEYS`: a JSON array of private JWKs, the first signs (empty: none)."""
    if not configured.strip():
        return []
    try:
        document = json.loads(configured)
    except json.JSONDecodeError:
        raise HistoryKeyError("BW_HISTORY_KEYS is not JSON (an array of private JWKs)") from None
    if not isinstance(document, list) or not document:
        raise HistoryKeyError("BW_HISTORY_KEYS must be a non-empty JSON array of private JWKs")
    keys = [HistoryKey.from_jwk(jwk) for jwk in document]
    if len({key.kid for key in keys}) != len(keys):
        raise HistoryKeyError("BW_HISTORY_KEYS names a kid twice")
    return keys


@dataclass(frozen=True)
class TreeHead:
    """A signed tree head of one service's history."""

    service: str
    position: int
    stream_count: int
    event_count: int
    root: str
    signed_at: datetime
    kid: str
    public_key: Mapping[str, str]
    signature: str

    def payload(self) -> dict[str, Any]:
        """What the signature covers."""
        return {
            "format": FORMAT,
            "service": self.service,
            "position": self.position,
            "stream_count": self.stream_count,
            "event_count": self.event_count,
            "root": self.root,
            "signed_at": canonical_time(self.signed_at),
            "kid": self.kid,
            "public_key": dict(self.public_key),
        }

    def document(self) -> dict[str, Any]:
        """The head as served and bundled: the payload and its signature."""
        return {**self.payload(), "signature": self.signature}


def signed_bytes(payload: Mapping[str, Any]) -> bytes:
    """The canonical JSON a head's signature is over (sorted keys, no spaces, UTF-8)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_tree_head(
    key: HistoryKey,
    *,
    service: str,
    position: int,
    stream_count: int,
    event_count: int,
    root: str,
    signed_at: datetime,
) -> TreeHead:
    # the database keeps microseconds: the signed time is the stored one
    signed_at = signed_at.astimezone(UTC)
    unsigned = TreeHead(
        service, position, stream_count, event_count, root, signed_at, key.kid, key.public_jwk(), ""
    )
    signature = _b64url(key.sign(signed_bytes(unsigned.payload())))
    return TreeHead(
        service,
        position,
        stream_count,
        event_count,
        root,
        signed_at,
        key.kid,
        key.public_jwk(),
        signature,
    )


def tree_head_problem(document: Any) -> str | None:
    """Why a head (its `document()`, e.g. from a bundle or the API) does not verify, or None: its
    members are what a head has, its public key is an Ed25519 JWK named by its kid, and its
    signature verifies with that key over the other members. Whether the key is one of the
    service's is the caller's question (`kid` and `public_key`). Pure: no network."""
    if not isinstance(document, dict):
        return "a tree head is a JSON object"
    expected = {*TreeHead.__dataclass_fields__, "format"}
    if set(document) != expected:
        return f"a tree head has the members {sorted(expected)}"
    if document["format"] != FORMAT:
        return f"format is not {FORMAT!r}"
    for name in ("position", "stream_count", "event_count"):
        value = document[name]
        if type(value) is not int or value < 0:
            return f"{name} is not a count"
    if not isinstance(document["root"], str) or not _HEX64.match(document["root"]):
        return "root is not a SHA-256 in hex"
    public_key, kid = document["public_key"], document["kid"]
    if not isinstance(public_key, dict) or public_key.get("kty") != "OKP":
        return "public_key is not an OKP JWK"
    if public_key.get("crv") != "Ed25519" or not isinstance(public_key.get("x"), str):
        return "public_key is not an Ed25519 JWK"
    if public_key.get("kid") != kid:
        return "kid is not the public key's kid"
    if not isinstance(document["signature"], str):
        return "signature is not base64url"
    try:
        raw_key = _b64url_decode(public_key["x"])
        signature = _b64url_decode(document["signature"])
        verifier = Ed25519PublicKey.from_public_bytes(raw_key)
    except (ValueError, binascii.Error):
        return "public_key or signature is not base64url of an Ed25519 key or signature"
    unsigned = {name: value for name, value in document.items() if name != "signature"}
    try:
        verifier.verify(signature, signed_bytes(unsigned))
    except InvalidSignature:
        return "the signature does not verify with the head's public key"
    return None


def head_from_row(service: str, row: Mapping[str, Any]) -> TreeHead:
    public_key = row["public_key"]
    return TreeHead(
        service=service,
        position=row["position"],
        stream_count=row["stream_count"],
        event_count=row["event_count"],
        root=row["root"],
        signed_at=row["signed_at"],
        kid=row["kid"],
        public_key=json.loads(public_key) if isinstance(public_key, str) else public_key,
        signature=row["signature"],
    )


_HEAD_COLUMNS = (
    "position, stream_count, event_count, root, signed_at, kid, public_key::text AS public_key, "
    "signature"
)


async def latest_tree_head(driver: asyncpg.Connection, schema: str) -> TreeHead | None:
    s = checked_schema(schema)
    row = await driver.fetchrow(
        f'SELECT {_HEAD_COLUMNS} FROM "{s}".tree_head ORDER BY position DESC LIMIT 1'
    )
    return head_from_row(s, row) if row is not None else None


async def tree_heads_after(
    driver: asyncpg.Connection, schema: str, after: int, limit: int
) -> list[TreeHead]:
    """The heads after position `after`, oldest first."""
    s = checked_schema(schema)
    rows = await driver.fetch(
        f'SELECT {_HEAD_COLUMNS} FROM "{s}".tree_head WHERE position > $1 '
        "ORDER BY position LIMIT $2",
        after,
        limit,
    )
    return [head_from_row(s, row) for row in rows]


async def covering_tree_head(
    driver: asyncpg.Connection, schema: str, position: int
) -> TreeHead | None:
    """The first head at or after an event's position (it covers the event), if one exists."""
    s = checked_schema(schema)
    row = await driver.fetchrow(
        f'SELECT {_HEAD_COLUMNS} FROM "{s}".tree_head WHERE position >= $1 '
        "ORDER BY position LIMIT 1",
        position,
    )
    return head_from_row(s, row) if row is not None else None


async def development_key(driver: asyncpg.Connection, schema: str) -> HistoryKey:
    """The history key a development service keeps in its schema (`history_key`), generated and
    stored the first time, so that a restart signs with the same key."""
    s = checked_schema(schema)
    select = f'SELECT private_jwk::text FROM "{s}".history_key ORDER BY created_at, kid LIMIT 1'
    stored = await driver.fetchval(select)
    if stored is None:
        key = HistoryKey.generate()
        await driver.execute(
            f'INSERT INTO "{s}".history_key (kid, private_jwk) VALUES ($1, $2::jsonb) '
            "ON CONFLICT DO NOTHING",
            key.kid,
            json.dumps(key.private_jwk()),
        )
        stored = await driver.fetchval(select)  # a replica starting with us may have won
        if json.loads(stored)["kid"] == key.kid:
            log.warning(
                "development: generated the history signing key %s and stored it in %s.history_key "
                "(set BW_HISTORY_KEYS outside development)",
                key.kid,
                s,
            )
    return HistoryKey.from_jwk(json.loads(stored))


async def plain_driver(connection: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a SQLAlchemy one, with no transaction begun: each statement
    is its own until one is opened on it."""
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    return driver


Leaves = dict[str, tuple[int, str, str]]
"""stream id -> (version, event id, hash) of its head."""


@dataclass
class _Signed:
    position: int
    event_count: int
    leaves: Leaves
    tree: MerkleTree


class TreeHeadSigner:
    """Signs a tree head of `schema`'s history every `interval` seconds when new events exist
    (a service kit component: `start`/`stop`). A head is as of the event table's largest
    position P once every transaction that may still write a position below P has ended, so that
    no event committed later falls under a head already signed; replicas sign one at a time."""

    def __init__(
        self,
        engine: AsyncEngine,
        schema: str,
        keys: Sequence[HistoryKey],
        *,
        interval: float = 60.0,
        settle_seconds: float = 5.0,
    ) -> None:
        self.engine = engine
        self.schema = checked_schema(schema)
        self.keys = list(keys)  # empty: the development key of the schema
        self.interval = interval
        self.settle_seconds = settle_seconds
        self._task: asyncio.Task[None] | None = None
        self._signed: _Signed | None = None
        # a position whose writers had not all ended at the last try: (position, writers)
        self._pending: tuple[int, list[str]] | None = None

    async def signing_keys(self) -> list[HistoryKey]:
        """The keys, the signing one first; a development service without configured keys
        reads (or makes) the one kept in its schema, the first time it is asked."""
        if not self.keys:
            async with self.engine.connect() as connection:
                driver = await plain_driver(connection)
                key = await development_key(driver, self.schema)
            self.keys = self.keys or [key]
        return self.keys

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"tree-heads-{self.schema}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, timeout=10)
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sign()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next tick tries again; the history is not at stake
                log.exception("signing a tree head of %s failed", self.schema)

    async def sign(self) -> TreeHead | None:
        """Sign a head of every event committed so far, if there is any new one since the last
        head and its writers have ended within `settle_seconds` (else the next call goes on)."""
        keys = await self.signing_keys()
        s = self.schema
        async with self.engine.connect() as connection:
            # statements straight on the driver, each its own transaction until the one below
            driver = await plain_driver(connection)
            candidate = self._pending or await self._candidate(driver)
            if candidate is None:
                return None
            position, writers = candidate
            if not await self._settled(driver, writers):
                self._pending = candidate
                return None
            self._pending = None
            async with driver.transaction(isolation="repeatable_read"):
                locked = await driver.fetchval(
                    "SELECT pg_try_advisory_xact_lock(hashtext($1))", f"tree_head:{s}"
                )
                if not locked:
                    return None  # another replica is signing
                last = await driver.fetchrow(
                    f'SELECT position, event_count FROM "{s}".tree_head '
                    "ORDER BY position DESC LIMIT 1"
                )
                if last is not None and last["position"] >= position:
                    return None
                head, changed = await self._head(driver, keys[0], position, last)
                await self._store(driver, head, changed)
            log.info(
                "signed the tree head of %s at position %d: %d streams, %d events",
                s,
                head.position,
                head.stream_count,
                head.event_count,
            )
            return head

    async def _candidate(self, driver: asyncpg.Connection) -> tuple[int, list[str]] | None:
        """The largest position now, and the transactions that may still write below it: those
        holding the event table's insert lock once the position was read (a writer takes it
        before it draws its position, and keeps it until it commits or rolls back)."""
        s = self.schema
        position = await driver.fetchval(f'SELECT max(position) FROM "{s}".event')
        if position is None:
            return None
        last = await driver.fetchval(f'SELECT max(position) FROM "{s}".tree_head')
        if last is not None and last >= position:
            return None
        writers = await driver.fetchval(
            """
            SELECT coalesce(array_agg(DISTINCT virtualtransaction), '{}') FROM pg_locks
            WHERE locktype = 'relation' AND relation = $1::regclass
              AND mode = 'RowExclusiveLock' AND granted AND pid <> pg_backend_pid()
            """,
            f'"{s}".event',
        )
        return int(position), list(writers)

    async def _settled(self, driver: asyncpg.Connection, writers: list[str]) -> bool:
        if not writers:
            return True
        deadline = asyncio.get_running_loop().time() + self.settle_seconds
        while True:
            running = await driver.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'virtualxid' "
                "AND virtualxid = ANY($1::text[])",
                writers,
            )
            if running == 0:
                return True
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.02)

    async def _head(
        self,
        driver: asyncpg.Connection,
        key: HistoryKey,
        position: int,
        last: asyncpg.Record | None,
    ) -> tuple[TreeHead, list[tuple[str, int, str, str]]]:
        """The head as of `position` and the streams changed since the last head (their heads)."""
        s = self.schema
        after = last["position"] if last is not None else 0
        changed = [
            (row[0], row[1], row[2], row[3])
            for row in await driver.fetch(
                f"""
                SELECT DISTINCT ON (stream_id) stream_id, version, event_id::text, hash
                FROM "{s}".event WHERE position > $1 AND position <= $2
                ORDER BY stream_id, version DESC
                """,
                after,
                position,
            )
        ]
        signed = self._signed
        if last is not None and signed is not None and signed.position == last["position"]:
            # what this signer signed last: only the changes are read
            leaves, tree = signed.leaves, signed.tree
            added = await driver.fetchval(
                f'SELECT count(*) FROM "{s}".event WHERE position > $1 AND position <= $2',
                after,
                position,
            )
            event_count = int(last["event_count"]) + int(added)
        else:
            # every stream's last event up to the position, from the events alone (the
            # primary key read backwards: no sort)
            leaves = {
                row[0]: (row[1], row[2], row[3])
                for row in await driver.fetch(
                    f"""
                    SELECT DISTINCT ON (stream_id) stream_id, version, event_id::text, hash
                    FROM "{s}".event WHERE position <= $1
                    ORDER BY stream_id DESC, version DESC
                    """,
                    position,
                )
            }
            event_count = int(
                await driver.fetchval(
                    f'SELECT count(*) FROM "{s}".event WHERE position <= $1', position
                )
            )
            tree = MerkleTree()
            for stream_id, (_version, _event_id, hash_) in leaves.items():
                tree.set(stream_id, hash_)
        for stream_id, version, event_id, hash_ in changed:
            leaves[stream_id] = (version, event_id, hash_)
            tree.set(stream_id, hash_)
        root = tree.root()
        head = sign_tree_head(
            key,
            service=s,
            position=position,
            stream_count=len(leaves),
            event_count=event_count,
            root=root,
            signed_at=datetime.now(UTC),
        )
        self._signed = _Signed(position, event_count, leaves, tree)
        return head, changed

    async def _store(
        self, driver: asyncpg.Connection, head: TreeHead, changed: list[tuple[str, int, str, str]]
    ) -> None:
        s = self.schema
        await driver.execute(
            f"""
            INSERT INTO "{s}".tree_head (position, stream_count, event_count, root, signed_at,
                                         kid, public_key, signature)
            VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
            """,
            head.position,
            head.stream_count,
            head.event_count,
            head.root,
            head.signed_at,
            head.kid,
            json.dumps(dict(head.public_key)),
            head.signature,
        )
        await driver.execute(
            f"""
            INSERT INTO "{s}".tree_head_leaf (position, stream_id, version, event_id, hash)
            SELECT $1, l.stream_id, l.version, l.event_id, l.hash
            FROM unnest($2::text[], $3::int[], $4::uuid[], $5::text[])
                AS l(stream_id, version, event_id, hash)
            """,
            head.position,
            [row[0] for row in changed],
            [row[1] for row in changed],
            [row[2] for row in changed],
            [row[3] for row in changed],
        )
