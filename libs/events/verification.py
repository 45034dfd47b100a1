"""Checking a service's stored history against its hash chain and its signed tree heads
(`python3 bw.py ops verify-history`, docs/history-chain.md): every event's hash is computed again
from its content, every link to its predecessor followed, every head's signature checked and its
root computed again as of its position; the first event altered, removed or reordered in each
stream is named.

Two reads of one snapshot: the events in stream and version order (the chain), then their
positions, streams and hashes in position order (the heads)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from libs.events.chain import GENESIS, MerkleTree, event_hash
from libs.events.store import checked_schema
from libs.events.treehead import head_from_row, tree_head_problem

PREFETCH = 10_000
MAX_FAILURES = 1_000  # kept in a report; the count goes on


@dataclass(frozen=True)
class Failure:
    """What no longer holds: `kind` is altered, removed, reordered or tree-head; the event named
    is the first one of its stream that is affected (when the store still knows it)."""

    kind: str
    detail: str
    stream_id: str | None = None
    version: int | None = None
    event_id: str | None = None

    def describe(self, service: str) -> str:
        where = [f"service {service}"]
        if self.stream_id is not None:
            where.append(f"stream {self.stream_id}")
        if self.version is not None:
            where.append(f"version {self.version}")
        if self.event_id is not None:
            where.append(f"event {self.event_id}")
        return f"{self.kind}: {', '.join(where)}: {self.detail}"


@dataclass
class HistoryReport:
    service: str
    streams: int = 0
    events: int = 0
    heads: int = 0
    failures: list[Failure] = field(default_factory=list)
    failure_count: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failure_count == 0

    def fail(self, failure: Failure) -> None:
        self.failure_count += 1
        if len(self.failures) < MAX_FAILURES:
            self.failures.append(failure)


@dataclass(frozen=True)
class _Row:
    position: int
    version: int
    event_id: str
    prev_hash: str
    hash: str


async def verify_history(
    driver: asyncpg.Connection,
    schema: str,
    *,
    trusted_keys: Sequence[Mapping[str, Any]] | None = None,
) -> HistoryReport:
    """Check `schema`'s chain and tree heads on `driver` (read only, one snapshot). With
    `trusted_keys` (public JWKs), a head signed by another key fails; without, the heads are
    only checked against the key each carries (a note says so)."""
    s = checked_schema(schema)
    report = HistoryReport(service=s)
    started = time.perf_counter()
    async with driver.transaction(isolation="repeatable_read", readonly=True):
        # the primary key's and the position's order, streamed: no sort, no JIT start-up
        await driver.execute("SET LOCAL enable_sort = off; SET LOCAL jit = off")
        heads_of_streams = await _check_chains(driver, s, report)
        await _check_stream_table(driver, s, heads_of_streams, report)
        await _check_tree_heads(driver, s, trusted_keys, report)
    report.seconds = time.perf_counter() - started
    return report


async def _check_chains(
    driver: asyncpg.Connection, s: str, report: HistoryReport
) -> dict[str, tuple[int, str]]:
    """Every stream's chain; returns each stream's last (version, event id)."""
    last: dict[str, tuple[int, str]] = {}
    cursor = await driver.cursor(
        f"""
        SELECT stream_id, version, event_id::text, event_type, subject, data::text,
               metadata::text, recorded_at, prev_hash, hash, position
        FROM "{s}".event ORDER BY stream_id, version
        """
    )
    stream_id: str | None = None
    state = _StreamCheck("")
    while rows := await cursor.fetch(PREFETCH):
        for row in rows:
            if row[0] != stream_id:
                if stream_id is not None:
                    state.finish(report)
                    last[stream_id] = state.last
                stream_id = row[0]
                state = _StreamCheck(stream_id)
                report.streams += 1
            report.events += 1
            state.add(row)
    if stream_id is not None:
        state.finish(report)
        last[stream_id] = state.last
    return last


class _StreamCheck:
    """One stream's events in version order: the first that breaks the chain."""

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        self.rows: list[_Row] = []
        self.failure: Failure | None = None
        self.expected_prev = GENESIS
        self.last = (0, "")

    def add(self, row: asyncpg.Record) -> None:
        current = _Row(row[10], row[1], row[2], row[8], row[9])
        self.last = (current.version, current.event_id)
        if self.failure is not None:
            self.rows.append(current)  # a reordering is told by a later event's link
            return
        previous = self.rows[-1] if self.rows else None
        self.rows.append(current)
        expected_version = previous.version + 1 if previous is not None else 1
        if current.version != expected_version:
            missing = (
                f"version {expected_version} is"
                if current.version - 1 == expected_version
                else f"versions {expected_version}-{current.version - 1} are"
            )
            self.failure = Failure(
                "removed",
                f"{missing} missing: version {current.version} (event {current.event_id}) "
                "follows " + (f"version {previous.version}" if previous else "nothing"),
                self.stream_id,
                expected_version,
            )
            return
        recomputed = event_hash(
            current.prev_hash, self.stream_id, current.version, current.event_id, *row[3:8]
        )
        if current.prev_hash != self.expected_prev:
            if previous is not None and recomputed == current.hash:
                # this event is as it was stored: the one before it is not what it was chained to
                self.failure = Failure(
                    "altered",
                    f"version {current.version} (event {current.event_id}) was chained to "
                    "another hash: this event was rewritten with a new hash, or replaced",
                    self.stream_id,
                    previous.version,
                    previous.event_id,
                )
            else:
                self.failure = Failure(
                    "removed",
                    f"its link {current.prev_hash[:16]}… is not the hash of "
                    + (f"version {previous.version}" if previous else "nothing (64 zeros)")
                    + ": the event it was chained to is no longer in the stream",
                    self.stream_id,
                    current.version,
                    current.event_id,
                )
            return
        if recomputed != current.hash:
            self.failure = Failure(
                "altered",
                "its content no longer has the hash it was stored with",
                self.stream_id,
                current.version,
                current.event_id,
            )
            return
        if previous is not None and current.position < previous.position:
            self.failure = Failure(
                "reordered",
                f"it was recorded (position {current.position}) before version "
                f"{previous.version} (position {previous.position})",
                self.stream_id,
                current.version,
                current.event_id,
            )
            return
        self.expected_prev = current.hash

    def finish(self, report: HistoryReport) -> None:
        if self.failure is None:
            return
        failure = self.failure
        if failure.kind == "removed" and failure.event_id is not None:
            # a link to an event that is still in the stream, at another version: moved there
            successor = next(
                (row for row in self.rows if row.prev_hash == self._link_before(failure)), None
            )
            if successor is not None and successor.version != failure.version:
                failure = Failure(
                    "reordered",
                    f"it is not the event recorded after version {(failure.version or 1) - 1}: that "
                    f"one (event {successor.event_id}) is now version {successor.version}",
                    failure.stream_id,
                    failure.version,
                    failure.event_id,
                )
        report.fail(failure)

    def _link_before(self, failure: Failure) -> str:
        version = failure.version or 1
        if version == 1:
            return GENESIS
        return next((row.hash for row in self.rows if row.version == version - 1), GENESIS)


async def _check_stream_table(
    driver: asyncpg.Connection,
    s: str,
    last: Mapping[str, tuple[int, str]],
    report: HistoryReport,
) -> None:
    """A stream whose recorded version is past its last event lost its tail."""
    for stream_id, version in await driver.fetch(
        f'SELECT stream_id, version FROM "{s}".stream ORDER BY stream_id'
    ):
        found, _event = last.get(stream_id, (0, ""))
        if found < version:
            report.fail(
                Failure(
                    "removed",
                    f"the stream is at version {version} but its events end at version {found}",
                    stream_id,
                    found + 1,
                )
            )


async def _check_tree_heads(
    driver: asyncpg.Connection,
    s: str,
    trusted_keys: Sequence[Mapping[str, Any]] | None,
    report: HistoryReport,
) -> None:
    heads = [
        head_from_row(s, row)
        for row in await driver.fetch(
            f"""
            SELECT position, stream_count, event_count, root, signed_at, kid,
                   public_key::text AS public_key, signature
            FROM "{s}".tree_head ORDER BY position
            """
        )
    ]
    report.heads = len(heads)
    if not heads:
        return
    trusted = {(key.get("kid"), key.get("x")) for key in trusted_keys or ()}
    if trusted_keys is None:
        kids = sorted({head.kid for head in heads})
        report.notes.append(
            f"heads checked against the key each carries ({', '.join(kids)}); give the "
            "service's public keys to check whose keys they are"
        )
    state: dict[str, tuple[int, str, str]] = {}  # stream -> (version, event id, hash)
    tree = MerkleTree()
    events = 0
    cursor = await driver.cursor(
        f'SELECT position, stream_id, version, event_id::text, hash FROM "{s}".event '
        "ORDER BY position"
    )
    pending: list[asyncpg.Record] = []
    failed_root = False
    for head in heads:
        problem = tree_head_problem(head.document())
        signer = (head.kid, head.public_key.get("x"))
        if problem is None and trusted_keys is not None and signer not in trusted:
            problem = f"it is signed by key {head.kid}, which is not one of the service's"
        if problem is not None:
            report.fail(Failure("tree-head", f"the head at position {head.position}: {problem}"))
        while True:
            if not pending:
                pending = list(await cursor.fetch(PREFETCH))
                pending.reverse()
                if not pending:
                    break
            if pending[-1][0] > head.position:
                break
            row = pending.pop()
            state[row[1]] = (row[2], row[3], row[4])
            tree.set(row[1], row[4])
            events += 1
        if failed_root:
            continue  # the first head that fails is the one to read; later ones follow from it
        root = tree.root()
        if (root, len(state), events) != (head.root, head.stream_count, head.event_count):
            failed_root = True
            await _explain_head(driver, s, head.position, state, events, head, report)


async def _explain_head(
    driver: asyncpg.Connection,
    s: str,
    position: int,
    state: Mapping[str, tuple[int, str, str]],
    events: int,
    head: Any,
    report: HistoryReport,
) -> None:
    """Name what a head that no longer reproduces lost: the streams' heads as the heads up to it
    recorded them (`tree_head_leaf`) against the store's."""
    signed = {
        row[0]: (row[1], row[2], row[3])
        for row in await driver.fetch(
            f"""
            SELECT DISTINCT ON (stream_id) stream_id, version, event_id::text, hash
            FROM "{s}".tree_head_leaf WHERE position <= $1
            ORDER BY stream_id, position DESC
            """,
            position,
        )
    }
    named = 0
    for stream_id in sorted(set(signed) | set(state)):
        failure = _leaf_failure(stream_id, signed.get(stream_id), state.get(stream_id), position)
        if failure is not None:
            named += 1
            report.fail(failure)
    if not named:
        report.fail(
            Failure(
                "tree-head",
                f"the root signed at position {position} ({head.stream_count} streams, "
                f"{head.event_count} events) is not reproduced by the store ({len(state)} "
                f"streams, {events} events)",
            )
        )


def _leaf_failure(
    stream_id: str,
    signed: tuple[int, str, str] | None,
    found: tuple[int, str, str] | None,
    position: int,
) -> Failure | None:
    at = f"the tree head at position {position}"
    if signed is None:
        if found is None:
            return None
        return Failure(
            "reordered",
            f"the store has version {found[0]} (event {found[1]}) at or before {at}, "
            "which did not have the stream",
            stream_id,
            found[0],
            found[1],
        )
    version, event_id, hash_ = signed
    if found is None or found[0] < version:
        first = (found[0] if found is not None else 0) + 1
        return Failure(
            "removed",
            f"{at} signed version {version} (event {event_id}); the store ends at version "
            f"{first - 1}",
            stream_id,
            first,
            event_id if first == version else None,
        )
    if found[0] > version:
        return Failure(
            "reordered",
            f"{at} signed version {version}; the store has version {found[0]} (event "
            f"{found[1]}) before it",
            stream_id,
            version + 1,
        )
    if found[2] != hash_:
        return Failure(
            "altered",
            f"{at} signed another hash for this version: the chain up to it was rewritten",
            stream_id,
            version,
            event_id,
        )
    return None


def public_keys(configured: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The public part of JWKs (private or public), as `trusted_keys` takes them."""
    return [
        {name: key[name] for name in ("kty", "crv", "x", "kid") if name in key}
        for key in configured
    ]


def load_public_keys(text: str) -> list[dict[str, Any]]:
    """A JWKS (`{"keys": [...]}`) or a JSON array of JWKs."""
    document = json.loads(text)
    keys = document.get("keys") if isinstance(document, dict) else document
    if not isinstance(keys, list) or not all(isinstance(key, dict) for key in keys):
        raise ValueError("not a JWKS nor a JSON array of JWKs")
    return public_keys(keys)
