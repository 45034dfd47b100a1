"""`Idempotency-Key` support for writes: the answer to a key is stored in the service's PostgreSQL
schema, in the same transaction as the command's events, and replayed for retries of the request.

Rules (pure ASGI middleware):
- applies to POST, PUT and PATCH carrying the header and a valid bearer token; without a verified
  caller the request runs as if no key were sent, and the route's own auth answers;
- a key is 1 to 255 characters, otherwise 400;
- a key is scoped by the caller's whole identity (issuer, subject, role, tenant) and by the method
  and path: another caller, or another path, never meets it;
- the request runs inside one database transaction that the event store joins
  (`libs.events.ambient`): its events, read-model changes and the stored answer commit together.
  A crash or a client disconnect before the commit applies nothing and stores nothing; after it, the
  command is applied and its answer is stored, so the key is never released or taken over;
- a retry with the same key and body is authorized like any request: the route runs its checks,
  and at its first write the stored answer is sent instead, with `Idempotent-Replayed: true`. A
  caller who may not make the request gets the route's own 401/403/404, key or no key;
- the same key with another body or `If-Match` → 422; the same key while the first request runs
  → 409;
- only final verdicts are stored: 2xx and the 4xx that judge the request itself (400, 413, 415,
  422). Anything else (auth failures, not found, conflicts, failed preconditions, rate limits,
  5xx) rolls the whole request back, so a retry runs again;
- an answer marked `Cache-Control: no-store` (it shows a secret once) is not kept: a retry of a
  request that was applied gets a 409 problem `idempotent-answer-withheld` with its `Location`;
- keys expire after 24 h.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.events.ambient import (
    RequestTransaction,
    StoredResponseReplay,
    joined_transaction,
    request_transaction,
)
from libs.servicekit.auth import Principal
from libs.servicekit.problems import (
    PROBLEM_CONTENT_TYPE,
    BadRequest,
    Conflict,
    ProblemError,
    ServiceUnavailable,
    UnprocessableEntity,
    problem_response,
)

logger = logging.getLogger("libs.servicekit.idempotency")

TABLE_NAME = "idempotency_key"
IDEMPOTENT_METHODS = frozenset({"POST", "PUT", "PATCH"})
MAX_KEY_LENGTH = 255
KEY_TTL = timedelta(hours=24)
PURGE_INTERVAL_SECONDS = 600.0
STORED_CLIENT_ERRORS = frozenset({400, 413, 415, 422})
REPLAYED_HEADERS = ("content-type", "location", "etag", "content-location")


def define_idempotency_table(metadata: MetaData) -> Table:
    """The `idempotency_key` table in `metadata` (and so in its schema); add it to migrations."""
    return Table(
        TABLE_NAME,
        metadata,
        Column("principal", Text, primary_key=True),
        Column("key", String(MAX_KEY_LENGTH), primary_key=True),
        Column("method", String(16), nullable=False),
        Column("path", Text, nullable=False),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", Integer, nullable=True),
        Column("response_body", LargeBinary, nullable=True),
        Column("response_headers", JSONB, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("completed_at", DateTime(timezone=True), nullable=True),
        Index("ix_idempotency_key_created_at", "created_at"),
    )


_tables: dict[str | None, Table] = {}


def idempotency_table(schema: str | None) -> Table:
    """The table's description for queries in `schema`."""
    if schema not in _tables:
        _tables[schema] = define_idempotency_table(MetaData(schema=schema))
    return _tables[schema]


async def purge_expired_keys(
    engine: AsyncEngine, schema: str | None, ttl: timedelta = KEY_TTL
) -> int:
    """Delete keys older than `ttl`; returns how many went."""
    table = idempotency_table(schema)
    async with engine.begin() as connection:
        result = await connection.execute(
            delete(table).where(table.c.created_at < func.now() - ttl)
        )
    return int(result.rowcount or 0)


def is_stored_status(status: int) -> bool:
    return 200 <= status < 300 or status in STORED_CLIENT_ERRORS


def before_write(request: Request) -> None:
    """Call where a route is about to write outside the event store (the store's units of work
    call it themselves), after its authorization: a retry of a request that already committed
    stops here, and its stored answer is sent instead."""
    engine = getattr(request.app.state, "db_engine", None)
    joined = request_transaction(engine) if engine is not None else None
    if joined is not None:
        joined.before_write()


def request_connection(request: Request) -> AsyncConnection | None:
    """The connection of the request's transaction (open when it carries an Idempotency-Key), for
    a route that writes outside the event store: what it writes commits with the stored answer."""
    engine = getattr(request.app.state, "db_engine", None)
    joined = request_transaction(engine) if engine is not None else None
    return joined.connection if joined is not None else None


def principal_scope(principal: Principal, method: str, path: str) -> str:
    """Who asks and what for: a key means something only within this scope."""
    return json.dumps(
        [
            principal.issuer,
            principal.subject,
            principal.role.value,
            principal.factory_id,
            principal.buyer_id,
            method,
            path,
        ],
        separators=(",", ":"),
    )


class ClaimState(enum.Enum):
    CLAIMED = "claimed"
    IN_PROGRESS = "in-progress"
    MISMATCH = "mismatch"
    REPLAY = "replay"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    stored: StoredResponse | None = None


@dataclass(frozen=True, slots=True)
class RequestFingerprint:
    principal: str
    key: str
    method: str
    path: str
    request_hash: str


class IdempotencyStore:
    """Claims and completes keys on the `idempotency_key` table, inside the caller's transaction."""

    def __init__(
        self, engine: AsyncEngine, schema: str | None, *, ttl: timedelta = KEY_TTL
    ) -> None:
        self.engine = engine
        self.table = idempotency_table(schema)
        self.ttl = ttl

    def _row(self, request: RequestFingerprint) -> Any:
        table = self.table
        return and_(table.c.principal == request.principal, table.c.key == request.key)

    async def claim(self, connection: AsyncConnection, request: RequestFingerprint) -> Claim:
        """Claim the key in the open transaction of `connection`, or say why not.

        A transaction-scoped advisory lock on the key makes a concurrent request with the same
        key answer at once (in progress) instead of waiting; the claim itself is the row, which
        becomes visible only when the request's transaction commits with its answer.
        """
        table = self.table
        locked = await connection.scalar(
            text("SELECT pg_try_advisory_xact_lock(hashtext(:scope), hashtext(:key))"),
            {"scope": request.principal, "key": request.key},
        )
        if not locked:
            return Claim(ClaimState.IN_PROGRESS)
        values = {
            "principal": request.principal,
            "key": request.key,
            "method": request.method,
            "path": request.path,
            "request_hash": request.request_hash,
        }
        inserted = await connection.execute(
            insert(table).values(values).on_conflict_do_nothing().returning(table.c.key)
        )
        if inserted.first() is not None:
            return Claim(ClaimState.CLAIMED)
        existing = (
            await connection.execute(
                select(table, (table.c.created_at < func.now() - self.ttl).label("expired")).where(
                    self._row(request)
                )
            )
        ).first()
        # Expired, purged meanwhile, or left unanswered by an older version: a fresh key.
        if existing is None or existing.expired or existing.status_code is None:
            await connection.execute(
                insert(table)
                .values(values)
                .on_conflict_do_update(
                    index_elements=[table.c.principal, table.c.key],
                    set_={
                        **values,
                        "status_code": None,
                        "response_body": None,
                        "response_headers": None,
                        "created_at": func.now(),
                        "completed_at": None,
                    },
                )
            )
            return Claim(ClaimState.CLAIMED)
        if existing.request_hash != request.request_hash:
            return Claim(ClaimState.MISMATCH)
        return Claim(
            ClaimState.REPLAY,
            StoredResponse(
                existing.status_code,
                bytes(existing.response_body or b""),
                dict(existing.response_headers or {}),
            ),
        )

    async def complete(
        self, connection: AsyncConnection, request: RequestFingerprint, response: StoredResponse
    ) -> None:
        """Store the answer in the request's transaction; it commits with the command."""
        await connection.execute(
            update(self.table)
            .where(self._row(request))
            .values(
                status_code=response.status_code,
                response_body=response.body,
                response_headers=response.headers,
                completed_at=func.now(),
            )
        )


def _header(scope: Scope, name: bytes) -> str | None:
    for header_name, value in scope.get("headers", []):
        if header_name.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client went away first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _request_hash(body: bytes, if_match: str | None) -> str:
    """What makes two requests with one key the same request: the body and the version the
    change expects (the method and path are part of the key's scope)."""
    digest = hashlib.sha256(body)
    digest.update(b"\x00if-match:" + (if_match or "").encode("latin-1"))
    return digest.hexdigest()


class _BufferedResponse:
    """Holds a route's response until the request's transaction has committed."""

    def __init__(self) -> None:
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.complete = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body" and not self.complete:
            self.chunks.append(message.get("body", b""))
            self.complete = not message.get("more_body", False)

    @property
    def status(self) -> int:
        return int(self.start["status"]) if self.start is not None else 500

    def stored(self) -> StoredResponse:
        """What is kept for retries. An answer marked `Cache-Control: no-store` (one that shows a
        secret once) is not kept: retries get a 409 problem saying the request was applied, with
        the answer's `Location`."""
        kept: dict[str, str] = {}
        withheld = False
        for name, value in self.start.get("headers", []) if self.start else []:
            decoded = name.decode("latin-1").lower()
            if decoded in REPLAYED_HEADERS:
                kept[decoded] = value.decode("latin-1")
            if decoded == "cache-control" and b"no-store" in value.lower():
                withheld = True
        if not withheld:
            return StoredResponse(self.status, b"".join(self.chunks), kept)
        problem = Conflict(
            "This request was applied, but its answer showed a secret once and is not kept. "
            "Read the resource (Location) and, if the answer was lost, rotate its secret.",
            title="Answer not kept",
            type_slug="idempotent-answer-withheld",
        )
        headers = {"content-type": PROBLEM_CONTENT_TYPE}
        if "location" in kept:
            headers["location"] = kept["location"]
        return StoredResponse(409, json.dumps(problem.to_document()).encode(), headers)

    async def forward(self, send: Send) -> None:
        assert self.start is not None
        await send(self.start)
        await send({"type": "http.response.body", "body": b"".join(self.chunks)})


async def _send_stored(stored: StoredResponse, send: Send) -> None:
    headers = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in stored.headers.items()
    ]
    headers += [
        (b"content-length", str(len(stored.body)).encode()),
        (b"idempotent-replayed", b"true"),
    ]
    await send({"type": "http.response.start", "status": stored.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body, "more_body": False})


class IdempotencyMiddleware:
    """Applies the rules in this module's docstring, using `app.state.db_engine`,
    `app.state.db_schema` and `app.state.token_verifier`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._last_purge = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in IDEMPOTENT_METHODS:
            await self.app(scope, receive, send)
            return
        key = _header(scope, b"idempotency-key")
        if key is None:
            await self.app(scope, receive, send)
            return
        if not key or len(key) > MAX_KEY_LENGTH:
            problem = BadRequest(
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.",
                type_slug="invalid-idempotency-key",
            )
            await problem_response(problem, instance=scope.get("path"))(scope, receive, send)
            return
        state = scope["app"].state
        engine: AsyncEngine | None = getattr(state, "db_engine", None)
        principal = await self._principal(scope, state)
        if engine is None or principal is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return
        store = IdempotencyStore(engine, getattr(state, "db_schema", None))
        await self._purge_now_and_then(store)
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope.get("path", "") + (f"?{query}" if query else "")
        request = RequestFingerprint(
            principal=principal_scope(principal, scope["method"], path),
            key=key,
            method=scope["method"],
            path=path,
            request_hash=_request_hash(body, _header(scope, b"if-match")),
        )
        delivered = False

        async def receive_body() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async with engine.connect() as connection:
            await connection.begin()
            claim = await store.claim(connection, request)
            if claim.state is ClaimState.CLAIMED:
                await self._run(scope, receive_body, send, engine, connection, store, request)
                return
            await connection.rollback()
        if claim.state is ClaimState.REPLAY:
            assert claim.stored is not None
            await self._replay(scope, receive_body, send, engine, claim.stored)
            return
        refusal = self._refusal(claim.state)
        await problem_response(refusal, instance=scope.get("path"))(scope, receive, send)

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        engine: AsyncEngine,
        connection: AsyncConnection,
        store: IdempotencyStore,
        request: RequestFingerprint,
    ) -> None:
        """Run the request in one transaction; commit it with the answer if the answer is final."""
        transaction = RequestTransaction(engine, connection)
        response = _BufferedResponse()
        try:
            with joined_transaction(transaction):
                await self.app(scope, receive, response.send)
        except BaseException:
            await connection.rollback()
            raise
        if not (response.complete and is_stored_status(response.status)):
            await connection.rollback()
            await response.forward(send)
            return
        try:
            await store.complete(connection, request, response.stored())
            await connection.commit()
        except Exception:
            # The commit may or may not have happened: a retry with the same key finds out
            # (it replays the answer if it did, and runs the command if it did not).
            logger.exception("could not commit the request with idempotency key %r", request.key)
            problem = ServiceUnavailable(
                "The outcome of this request is unknown; retry it with the same Idempotency-Key.",
                headers={"Retry-After": "1"},
            )
            await problem_response(problem, instance=scope.get("path"))(scope, receive, send)
            return
        for callback in transaction.after_commit:
            callback()
        await response.forward(send)

    async def _replay(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        engine: AsyncEngine,
        stored: StoredResponse,
    ) -> None:
        """A retry is authorized like the first request: the route runs until its first write,
        where the stored answer replaces it. A route that refuses the caller answers itself."""
        response = _BufferedResponse()
        try:
            with joined_transaction(RequestTransaction(engine, None, replay=stored)):
                await self.app(scope, receive, response.send)
        except StoredResponseReplay:
            await _send_stored(stored, send)
            return
        if response.status >= 400:
            await response.forward(send)
        else:
            await _send_stored(stored, send)

    @staticmethod
    async def _principal(scope: Scope, state: Any) -> Principal | None:
        authorization = _header(scope, b"authorization")
        verifier = getattr(state, "token_verifier", None)
        if authorization is None or verifier is None:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            principal: Principal = await verifier.verify(token.strip())
        except ProblemError:
            return None
        return principal

    async def _purge_now_and_then(self, store: IdempotencyStore) -> None:
        now = time.monotonic()
        if now - self._last_purge < PURGE_INTERVAL_SECONDS:
            return
        self._last_purge = now
        purged = await purge_expired_keys(store.engine, store.table.schema, store.ttl)
        if purged:
            logger.info("purged %d expired idempotency keys", purged)

    @staticmethod
    def _refusal(state: ClaimState) -> ProblemError:
        if state is ClaimState.MISMATCH:
            return UnprocessableEntity(
                "This Idempotency-Key was already used for a different request.",
                title="Idempotency key reused",
                type_slug="idempotency-key-reused",
            )
        return Conflict(
            "A request with this Idempotency-Key is still being processed; retry later.",
            title="Request in progress",
            type_slug="idempotency-key-in-progress",
            headers={"Retry-After": "1"},
        )


__all__ = [
    "IdempotencyMiddleware",
    "IdempotencyStore",
    "before_write",
    "define_idempotency_table",
    "principal_scope",
    "purge_expired_keys",
    "request_connection",
]
