"""Bulk import of a programme's history (libs/domain/history): one endpoint per kind a service
owns, `POST /v1/imports/<kind>`, with the records as JSON Lines.

What the library does for every kind, so a service writes only how its records become its events:
- only an admin imports, and only for its country programmes (the service checks the countries
  its records name: `ImportBatch.principal`);
- every line is parsed and validated against the kind's record model; a bad line is a row error
  (line, source id, field, reason), and so is a source id given twice in one request;
- the import ledger (`import_record`) makes importing again change nothing: a record already
  imported with the same digest is `unchanged`, with another digest a row error;
- the service's `apply` turns the new records into events in the request's one transaction
  (`ImportBatch.connection`), each event at its business time (`ImportBatch.at`) and attributed
  to the bundle, its checksum, the record and the importer (the store's metadata, `importedfrom`
  on the envelope); it reports a record's domain errors with `ImportBatch.reject`;
- a request with any row error changes nothing: 422 `import-rejected` with every row error found
  (the operator CLI drops the bad records and sends the rest again, so that nothing of a bad
  aggregate is imported and every good one is); else 200 with the counts.

A crash or a lost connection mid-request rolls the request back; sending the same lines again
imports what did not commit and nothing twice. Of two requests importing the same new records at
once, one is answered 409 and changes nothing (sent again, its records are `unchanged`). A line
holding what PostgreSQL cannot store (a NUL, a lone surrogate) is a row error.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.domain.envelope import ImportOrigin, business_time, event_context
from libs.domain.history.bundle import BUNDLE_ID_PATTERN, Record, at_noon, digest
from libs.domain.principal import Principal, Role
from libs.servicekit.auth import require_roles
from libs.servicekit.problems import Conflict, PayloadTooLarge, UnprocessableEntity
from libs.servicekit.service import current_service

R = TypeVar("R", bound=Record)
DepsT = TypeVar("DepsT")

MAX_RECORDS = 5_000
MAX_BODY_BYTES = 32 * 1024 * 1024
NDJSON = "application/x-ndjson"


@dataclass(frozen=True)
class RowError:
    """Why one line of a bundle's file was not imported."""

    line: int
    source_id: str | None
    field: str
    reason: str

    def document(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "source_id": self.source_id,
            "field": self.field,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Numbered(Generic[R]):
    """A valid record with its line in the file and its digest."""

    line: int
    record: R
    digest: str


@dataclass
class ImportBatch(Generic[R]):
    """The new records of one request, for the service's `apply`."""

    kind: str
    bundle_id: str
    bundle_checksum: str | None
    principal: Principal
    connection: AsyncConnection
    records: list[Numbered[R]]
    errors: list[RowError] = field(default_factory=list)
    events: int = 0
    countries: dict[str, str | None] = field(default_factory=dict)

    def origin(self, item: Numbered[R]) -> ImportOrigin:
        return ImportOrigin(
            bundle_id=self.bundle_id,
            bundle_checksum=self.bundle_checksum,
            kind=self.kind,
            source_id=item.record.source_id,
            imported_by=self.principal.subject,
        )

    @contextmanager
    def at(self, when: date | datetime, item: Numbered[R]) -> Iterator[None]:
        """Events appended inside the block happened at `when` (a day: noon UTC of it) and come
        from `item` of this bundle."""
        moment = when if isinstance(when, datetime) else at_noon(when)
        with business_time(moment, imported=self.origin(item)):
            yield

    def reject(self, item: Numbered[R], field_name: str, reason: str) -> None:
        """`item` breaks a rule of the domain: nothing of it may be imported (the request is
        rolled back and answered 422 with every such error)."""
        self.errors.append(RowError(item.line, item.record.source_id, field_name, reason))

    def scope(self, item: Numbered[R], country: str | None) -> None:
        """`item` belongs to the country programme `country` (kept in the ledger): an admin of
        another programme who sends the same record later is answered as for any record of a
        factory it may not see, never told that it was imported."""
        self.countries[item.record.source_id] = country

    def appended(self, count: int) -> None:
        """The service appended `count` events for this batch (the import's rate counts them)."""
        self.events += count


Apply = Callable[[DepsT, ImportBatch[Any]], Awaitable[None]]


@dataclass(frozen=True)
class ImportKind(Generic[DepsT]):
    """A kind of the history bundle a service imports, and how (`apply`)."""

    name: str
    record: type[Record]
    apply: Apply[DepsT]
    summary: str
    description: str = ""


class ImportReport(BaseModel):
    """What one import request did."""

    kind: str
    bundle_id: str
    received: int = Field(description="Lines in the request.")
    imported: int = Field(description="Records imported now.")
    unchanged: int = Field(description="Records imported before with the same content.")
    events: int = Field(description="Events appended for the records imported now.")
    seconds: float = Field(description="Time the request took in the service.")


CHECKSUM_PATTERN = r"^sha256:[0-9a-f]{64}$"
_CHECKSUM = re.compile(CHECKSUM_PATTERN)


class InvalidBundleChecksum(UnprocessableEntity):
    title = "Invalid bundle checksum"
    type_slug = "invalid-bundle-checksum"


class ImportRejected(UnprocessableEntity):
    title = "Import rejected"
    type_slug = "import-rejected"


def _field(location: Sequence[int | str]) -> str:
    return _printable(".".join(str(part) for part in location) or "record")


def _printable(value: str) -> str:
    """`value` as the error report can carry it (a lone surrogate escaped)."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


# A JSON line can hold a NUL or a lone surrogate only as an escape; PostgreSQL stores neither
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def _unstorable(value: Any, path: tuple[int | str, ...] = ()) -> tuple[int | str, ...] | None:
    """Where in a record's JSON a string holds what PostgreSQL cannot store, if anywhere."""
    if isinstance(value, str):
        if "\x00" in value:
            return path
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(value, dict):
        for key, member in value.items():
            found = _unstorable(key, path) if isinstance(key, str) else None
            found = found if found is not None else _unstorable(member, (*path, key))
            if found is not None:
                return found
    if isinstance(value, list | tuple):
        for index, member in enumerate(value):
            found = _unstorable(member, (*path, index))
            if found is not None:
                return found
    return None


def parse_lines(
    body: bytes, model: type[R], first_line: int
) -> tuple[list[Numbered[R]], list[RowError]]:
    """Every non-empty line validated against `model`; blank lines are skipped (and counted)."""
    valid: list[Numbered[R]] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for offset, raw in enumerate(body.split(b"\n")):
        line = first_line + offset
        if not raw.strip():
            continue
        source_id: str | None = None
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            errors.append(RowError(line, None, "record", f"not a JSON document: {error}"))
            continue
        except RecursionError:
            errors.append(RowError(line, None, "record", "not a JSON document: nested too deeply"))
            continue
        if isinstance(value, dict) and isinstance(value.get("source_id"), str):
            source_id = _printable(value["source_id"])
        try:
            record = model.model_validate(value)
        except ValidationError as error:
            for detail in error.errors(include_url=False):
                errors.append(RowError(line, source_id, _field(detail["loc"]), detail["msg"]))
            continue
        if _UNSTORABLE_ESCAPE.search(raw):
            where = _unstorable(record.model_dump(mode="json"))
            if where is not None:
                reason = "holds a NUL character or a lone surrogate, which cannot be stored"
                errors.append(RowError(line, source_id, _field(where), reason))
                continue
        if record.source_id in seen:
            errors.append(
                RowError(
                    line,
                    record.source_id,
                    "source_id",
                    f"given twice in this request (first on line {seen[record.source_id]})",
                )
            )
            continue
        seen[record.source_id] = line
        valid.append(Numbered(line, record, digest(record)))
    return valid, errors


async def _ledger(
    connection: AsyncConnection, schema: str, kind: str, source_ids: list[str]
) -> dict[str, tuple[str, str, str | None]]:
    rows = await connection.execute(
        text(
            f'SELECT source_id, digest, bundle_id, country FROM "{schema}".import_record '
            "WHERE kind = :kind AND source_id = ANY(:ids)"
        ),
        {"kind": kind, "ids": source_ids},
    )
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


async def _remember(
    connection: AsyncConnection, schema: str, batch: ImportBatch[Any], events: int
) -> None:
    if not batch.records:
        return
    share, rest = divmod(events, len(batch.records))
    try:
        await _insert_ledger(connection, schema, batch, share, rest)
    except IntegrityError:
        # another request imported some of these records meanwhile (its apply wrote nothing
        # this one's conflicted with): this one is rolled back; sent again, they are unchanged
        raise Conflict(
            "Another request imported some of these records at the same time; nothing of this "
            "one was imported. Send it again: what the other imported is then unchanged."
        ) from None


async def _insert_ledger(
    connection: AsyncConnection, schema: str, batch: ImportBatch[Any], share: int, rest: int
) -> None:
    await connection.execute(
        text(
            f'INSERT INTO "{schema}".import_record '
            "(kind, source_id, digest, bundle_id, bundle_checksum, imported_by, events, country) "
            "SELECT :kind, source_id, digest, :bundle, :checksum, :by, events, country "
            "FROM unnest(CAST(:ids AS text[]), CAST(:digests AS text[]), CAST(:events AS int[]), "
            "CAST(:countries AS text[])) AS fresh(source_id, digest, events, country)"
        ),
        {
            "kind": batch.kind,
            "bundle": batch.bundle_id,
            "checksum": batch.bundle_checksum,
            "by": batch.principal.subject,
            "ids": [item.record.source_id for item in batch.records],
            "digests": [item.digest for item in batch.records],
            "events": [share + (1 if index < rest else 0) for index in range(len(batch.records))],
            "countries": [batch.countries.get(item.record.source_id) for item in batch.records],
        },
    )


class _Rollback(Exception):
    """Leave the transaction without committing (a request with row errors changes nothing)."""


async def run_import(
    kind: ImportKind[Any],
    *,
    deps: Any,
    engine_begin: Callable[[], Any],
    schema: str,
    principal: Principal,
    body: bytes,
    bundle_id: str,
    bundle_checksum: str | None,
    first_line: int,
    correlation_id: str | None = None,
) -> ImportReport:
    """Import `body`'s records of `kind` (see the module's docstring); raises ImportRejected."""
    started = time.perf_counter()
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"An import request holds at most {MAX_BODY_BYTES} bytes.")
    valid, errors = parse_lines(body, kind.record, first_line)
    received = len(valid) + len({error.line for error in errors})
    if received > MAX_RECORDS:
        raise PayloadTooLarge(f"An import request holds at most {MAX_RECORDS} records.")
    unchanged = 0
    batch: ImportBatch[Any] | None = None
    try:
        async with engine_begin() as connection:
            known = await _ledger(
                connection, schema, kind.name, [item.record.source_id for item in valid]
            )
            fresh: list[Numbered[Any]] = []
            for item in valid:
                before = known.get(item.record.source_id)
                if before is None or (before[2] is not None and not principal.works_in(before[2])):
                    # new, or of a programme the caller does not work for: the service's `apply`
                    # answers it as it answers any record it may not see (authorization before
                    # the ledger's shortcut)
                    fresh.append(item)
                elif before[0] == item.digest:
                    unchanged += 1
                else:
                    errors.append(
                        RowError(
                            item.line,
                            item.record.source_id,
                            "source_id",
                            f"imported before (bundle {before[1]}) with other content",
                        )
                    )
            batch = ImportBatch(kind.name, bundle_id, bundle_checksum, principal, connection, fresh)
            if fresh:
                with event_context(
                    correlation_id=correlation_id or str(uuid.uuid4()), actor=principal.subject
                ):
                    await kind.apply(deps, batch)
            errors.extend(batch.errors)
            if errors:
                raise _Rollback
            await _remember(connection, schema, batch, batch.events)
    except _Rollback:
        ordered = sorted(errors, key=lambda error: (error.line, error.field))
        raise ImportRejected(
            f"{len({error.line for error in ordered})} of {received} records are not valid; "
            "nothing was imported. Correct or drop them and send the request again.",
            extensions={"errors": [error.document() for error in ordered]},
        ) from None
    return ImportReport(
        kind=kind.name,
        bundle_id=bundle_id,
        received=received,
        imported=len(batch.records) if batch is not None else 0,
        unchanged=unchanged,
        events=batch.events if batch is not None else 0,
        seconds=round(time.perf_counter() - started, 4),
    )


ImportAdmin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]


def import_router(kinds: Sequence[ImportKind[Any]], *, tag: str = "imports") -> APIRouter:
    """`POST /v1/imports/<kind>` for each kind (the service's `ServiceDefinition.imports`)."""
    router = APIRouter(prefix="/v1/imports", tags=[tag])
    for kind in kinds:
        router.add_api_route(
            f"/{kind.name}",
            _endpoint(kind),
            methods=["POST"],
            response_model=ImportReport,
            summary=kind.summary,
            description=(kind.description or kind.summary)
            + "\n\nThe body is JSON Lines (`application/x-ndjson`): one record per line, as "
            f"`docs/history-bundle/{kind.name}.schema.json` describes. At most {MAX_RECORDS} "
            "records per request. Only an admin imports. A request with any bad record imports "
            "nothing and is answered 422 `import-rejected` with an `errors` list (line, "
            "source_id, field, reason); importing a record again with the same content changes "
            "nothing (`unchanged`).",
            operation_id=f"import_{kind.name.replace('-', '_')}",
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "content": {
                        NDJSON: {"schema": {"type": "string", "description": "JSON Lines"}}
                    },
                }
            },
            responses={
                413: {"description": "More than the records or bytes one request may hold."},
                422: {"description": "Some records are not valid; nothing was imported."},
            },
        )
    return router


def _endpoint(kind: ImportKind[Any]) -> Callable[..., Awaitable[ImportReport]]:
    async def import_kind(
        request: Request,
        principal: ImportAdmin,
        import_bundle: Annotated[
            str,
            Header(
                pattern=BUNDLE_ID_PATTERN,
                description="The history bundle's id (its manifest's `bundle_id`).",
            ),
        ],
        import_bundle_checksum: Annotated[
            str | None,
            Header(
                max_length=100,
                description="The bundle's checksum, `sha256:` and 64 lower-case hex digits (of "
                "its canonical manifest); anything else is a 422 `invalid-bundle-checksum`.",
                # checked below: an absent optional header has no value at all, not `null`
                json_schema_extra={"pattern": CHECKSUM_PATTERN},
            ),
        ] = None,
        first_line: Annotated[
            int,
            Query(
                ge=1, le=2**31 - 1, description="The file's line number of the body's first line."
            ),
        ] = 1,
    ) -> ImportReport:
        if import_bundle_checksum is not None and not _CHECKSUM.match(import_bundle_checksum):
            raise InvalidBundleChecksum(
                "Import-Bundle-Checksum is `sha256:` and 64 lower-case hex digits."
            )
        service = current_service(request)
        body = await request.body()
        return await run_import(
            kind,
            deps=service.deps,
            engine_begin=service.runtime.store.engine.begin,
            schema=service.definition.schema,
            principal=principal,
            body=body,
            bundle_id=import_bundle,
            bundle_checksum=import_bundle_checksum,
            first_line=first_line,
            correlation_id=request.headers.get("x-correlation-id"),
        )

    import_kind.__name__ = f"import_{kind.name.replace('-', '_')}"
    return import_kind
