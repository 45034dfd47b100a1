"""`Idempotency-Key` support for writes: the first response to a key is stored in the service's
PostgreSQL schema and replayed for retries of the same request by the same principal.

Rules (pure ASGI middleware, so other responses stream untouched):
- applies to POST, PUT and PATCH carrying the header and a valid bearer token (keys are scoped to
  the token's subject; without a verified caller the request runs as if no key were sent and the
  route's own auth answers);
- a key is 1 to 255 characters, otherwise 400;
- same key, same method, path and body hash → the stored response with `Idempotent-Replayed: true`;
- same key, different method, path or body → 422; same key while the first request runs → 409;
- only final verdicts are stored: 2xx and the 4xx that judge the request itself (400, 404, 410,
  413, 415, 422). Auth failures, conflicts, failed preconditions, rate limits and 5xx release the
  key, so a retry runs again;
- keys expire after 24 h; a claim whose request died without answering is taken over after 5 min.
The stored response is written in its own transaction right after the handler's, so a crash in
between leaves the key claimed until it goes stale; handlers that must be exactly-once should
also rely on their aggregate's optimistic concurrency.
"""

from __future__ import annotations

import enum
import hashlib
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
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.servicekit.problems import (
    BadRequest,
    Conflict,
    ProblemError,
    UnprocessableEntity,
    problem_response,
)

logger = logging.getLogger("libs.servicekit.idempotency")

TABLE_NAME = "idempotency_key"
IDEMPOTENT_METHODS = frozenset({"POST", "PUT", "PATCH"})
MAX_KEY_LENGTH = 255
KEY_TTL = timedelta(hours=24)
STALE_CLAIM_AFTER = timedelta(minutes=5)
PURGE_INTERVAL_SECONDS = 600.0
# A larger response is passed on but not stored (the key is released).
MAX_STORED_BODY_BYTES = 1_048_576
STORED_CLIENT_ERRORS = frozenset({400, 404, 410, 413, 415, 422})
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


def is_stored_status(status: int) -> bool:
    return 200 <= status < 300 or status in STORED_CLIENT_ERRORS


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


class ClaimState(enum.Enum):
    CLAIMED = "claimed"
    IN_PROGRESS = "in-progress"
    MISMATCH = "mismatch"
    REPLAY = "replay"


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    status_code: int = 0
    body: bytes = b""
    headers: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class RequestFingerprint:
    principal: str
    key: str
    method: str
    path: str
    request_hash: str


class IdempotencyStore:
    """The claim / complete / release protocol on the `idempotency_key` table."""

    def __init__(
        self,
        engine: AsyncEngine,
        schema: str | None,
        *,
        ttl: timedelta = KEY_TTL,
        stale_after: timedelta = STALE_CLAIM_AFTER,
    ) -> None:
        self.engine = engine
        self.table = idempotency_table(schema)
        self.ttl = ttl
        self.stale_after = stale_after

    def _row(self, request: RequestFingerprint) -> Any:
        table = self.table
        return and_(table.c.principal == request.principal, table.c.key == request.key)

    async def claim(self, request: RequestFingerprint) -> Claim:
        table = self.table
        values = {
            "principal": request.principal,
            "key": request.key,
            "method": request.method,
            "path": request.path,
            "request_hash": request.request_hash,
        }
        fresh_claim = {
            **values,
            "status_code": None,
            "response_body": None,
            "response_headers": None,
            "created_at": func.now(),
            "completed_at": None,
        }
        # A row released by its owner between our INSERT and SELECT: simply try again.
        for _ in range(3):
            async with self.engine.begin() as connection:
                inserted = await connection.execute(
                    insert(table).values(values).on_conflict_do_nothing().returning(table.c.key)
                )
                if inserted.first() is not None:
                    return Claim(ClaimState.CLAIMED)
                existing = (
                    await connection.execute(
                        select(
                            table,
                            (table.c.created_at < func.now() - self.ttl).label("expired"),
                            (table.c.created_at < func.now() - self.stale_after).label("stale"),
                        )
                        .where(self._row(request))
                        .with_for_update()
                    )
                ).first()
                if existing is None:
                    continue
                if existing.expired:
                    await connection.execute(
                        update(table).where(self._row(request)).values(fresh_claim)
                    )
                    return Claim(ClaimState.CLAIMED)
                if (existing.method, existing.path, existing.request_hash) != (
                    request.method,
                    request.path,
                    request.request_hash,
                ):
                    return Claim(ClaimState.MISMATCH)
                if existing.completed_at is None:
                    if existing.stale:
                        await connection.execute(
                            update(table).where(self._row(request)).values(fresh_claim)
                        )
                        return Claim(ClaimState.CLAIMED)
                    return Claim(ClaimState.IN_PROGRESS)
                return Claim(
                    ClaimState.REPLAY,
                    status_code=existing.status_code,
                    body=bytes(existing.response_body or b""),
                    headers=dict(existing.response_headers or {}),
                )
        return Claim(ClaimState.IN_PROGRESS)

    async def complete(
        self, request: RequestFingerprint, status_code: int, body: bytes, headers: dict[str, str]
    ) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                update(self.table)
                .where(self._row(request))
                .values(
                    status_code=status_code,
                    response_body=body,
                    response_headers=headers,
                    completed_at=func.now(),
                )
            )

    async def release(self, request: RequestFingerprint) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                delete(self.table).where(
                    and_(self._row(request), self.table.c.completed_at.is_(None))
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
        subject = await self._subject(scope, state)
        if engine is None or subject is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return
        store = IdempotencyStore(engine, getattr(state, "db_schema", None))
        await self._purge_now_and_then(store)
        query = scope.get("query_string", b"").decode("latin-1")
        request = RequestFingerprint(
            principal=subject,
            key=key,
            method=scope["method"],
            path=scope.get("path", "") + (f"?{query}" if query else ""),
            request_hash=hashlib.sha256(body).hexdigest(),
        )
        claim = await store.claim(request)
        if claim.state is ClaimState.REPLAY:
            await self._replay(claim, send)
            return
        if claim.state is not ClaimState.CLAIMED:
            await problem_response(self._refusal(claim.state), instance=scope.get("path"))(
                scope, receive, send
            )
            return
        await self._run_and_store(scope, receive, send, body, store, request)

    @staticmethod
    async def _subject(scope: Scope, state: Any) -> str | None:
        authorization = _header(scope, b"authorization")
        verifier = getattr(state, "token_verifier", None)
        if authorization is None or verifier is None:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            principal = await verifier.verify(token.strip())
        except ProblemError:
            return None
        return str(principal.subject)

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

    @staticmethod
    async def _replay(claim: Claim, send: Send) -> None:
        headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in (claim.headers or {}).items()
        ]
        headers += [
            (b"content-length", str(len(claim.body)).encode()),
            (b"idempotent-replayed", b"true"),
        ]
        await send({"type": "http.response.start", "status": claim.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": claim.body, "more_body": False})

    async def _run_and_store(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes,
        store: IdempotencyStore,
        request: RequestFingerprint,
    ) -> None:
        body_delivered = False

        async def replay_body() -> Message:
            nonlocal body_delivered
            if not body_delivered:
                body_delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status_code = 0
        kept_headers: dict[str, str] = {}
        response_chunks: list[bytes] = []
        response_size = 0
        storing = False
        finished = False

        async def send_and_capture(message: Message) -> None:
            nonlocal status_code, storing, response_size, finished
            if message["type"] == "http.response.start":
                status_code = message["status"]
                storing = is_stored_status(status_code)
                for name, value in message.get("headers", []):
                    decoded_name = name.decode("latin-1").lower()
                    if decoded_name in REPLAYED_HEADERS:
                        kept_headers[decoded_name] = value.decode("latin-1")
            elif message["type"] == "http.response.body" and not finished:
                chunk = message.get("body", b"")
                response_size += len(chunk)
                if storing and response_size <= MAX_STORED_BODY_BYTES:
                    response_chunks.append(chunk)
                else:
                    storing = False
                if not message.get("more_body", False):
                    finished = True
                    # Stored before the last byte goes out, so a retry that follows the
                    # response at once already finds it.
                    await self._finish(
                        store, request, storing, status_code, response_chunks, kept_headers
                    )
            await send(message)

        try:
            await self.app(scope, replay_body, send_and_capture)
        finally:
            if not finished:
                await store.release(request)

    @staticmethod
    async def _finish(
        store: IdempotencyStore,
        request: RequestFingerprint,
        storing: bool,
        status_code: int,
        chunks: list[bytes],
        headers: dict[str, str],
    ) -> None:
        try:
            if storing:
                await store.complete(request, status_code, b"".join(chunks), headers)
            else:
                await store.release(request)
        except Exception:
            # The response itself succeeded; the key stays claimed and goes stale.
            logger.exception("could not record idempotency key %r", request.key)


__all__ = [
    "IdempotencyMiddleware",
    "IdempotencyStore",
    "define_idempotency_table",
    "purge_expired_keys",
]
