"""The generic history import (`libs/servicekit/imports.py`) on a toy service declared with one
kind, against a real PostgreSQL schema of its own: what an import request imports, what it
refuses (row errors with their line and field, a source id twice, a record imported before with
other content, a domain rule broken in `apply`) and that a refused request changes nothing, who
may import, the limits of one request, and the ledger that makes importing again change
nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.domain.contract import PublicContract
from libs.domain.envelope import DomainEvent, Envelope, EventRegistry
from libs.domain.history.bundle import Record, at_noon, digest, imported_id
from libs.domain.principal import Principal, Role
from libs.events.store import EventStore
from libs.events.tables import create_event_store_tables, create_import_tables
from libs.servicekit.auth import mint_token
from libs.servicekit.imports import (
    MAX_BODY_BYTES,
    MAX_RECORDS,
    ImportBatch,
    ImportKind,
    ImportRejected,
    run_import,
)
from libs.servicekit.service import ServiceDefinition, Wiring
from libs.servicekit.settings import ServiceSettings

pytestmark = pytest.mark.integration

SCHEMA = "kit_imports"
SECRET = "imports-test-secret-of-32-bytes!!"
BUNDLE = "kh-history-2001-2010"
CHECKSUM = "sha256:" + "c" * 64


class Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    count: int = Field(ge=1, le=100)


class WidgetRecord(Record):
    """The toy kind: a widget made on a day in a country, of parts."""

    name: str = Field(min_length=1, max_length=100)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    made_on: date
    parts: tuple[Part, ...] = Field(min_length=1)


class WidgetMade(DomainEvent):
    widget_id: str
    name: str


class PartFitted(DomainEvent):
    widget_id: str
    part: str
    count: int


@dataclass
class ToyDeps:
    store: EventStore


async def apply_widgets(deps: ToyDeps, batch: ImportBatch[Any]) -> None:
    """Each widget's events at noon of its day, its read-model row, in the request's transaction;
    a widget of a country the importer does not work in, or a "cursed" one (refused only after
    its events and row were written), breaks a rule."""
    async with deps.store.unit_of_work(connection=batch.connection) as uow:
        for item in batch.records:
            record: WidgetRecord = item.record
            if not batch.principal.works_in(record.country):
                batch.reject(item, "country", f"{record.country} is not your country programme")
                continue
            batch.scope(item, record.country)
            widget_id = imported_id("widgets", record.source_id)
            events: list[DomainEvent] = [WidgetMade(widget_id=widget_id, name=record.name)]
            events += [
                PartFitted(widget_id=widget_id, part=part.name, count=part.count)
                for part in record.parts
            ]
            with batch.at(record.made_on, item):
                appended = await uow.append(
                    f"widget-{widget_id}",
                    stream_type="widget",
                    expected_version=0,
                    events=events,
                    subject=widget_id,
                )
            await batch.connection.execute(
                text(f"INSERT INTO {SCHEMA}.widget (widget_id, name) VALUES (:id, :name)"),
                {"id": widget_id, "name": record.name},
            )
            batch.appended(len(appended))
            if record.name == "cursed":
                batch.reject(item, "name", "a cursed widget may not be imported")


class NoteRecord(Record):
    """A kind whose import keeps nothing but its ledger entry (a reference list, say)."""

    text: str = Field(min_length=1)


async def apply_notes(_deps: ToyDeps, batch: ImportBatch[Any]) -> None:
    # slow enough that two requests at once both find the ledger without the records
    await asyncio.sleep(0.3)
    batch.appended(0)


def registry() -> EventRegistry:
    events = EventRegistry("toy")
    events.register_all(WidgetMade, PartFitted)
    return events


def make_deps(wiring: Wiring[ServiceSettings]) -> ToyDeps:
    return ToyDeps(store=wiring.runtime.store)


TOY = ServiceDefinition(
    name="toy",
    title="Toy importer",
    description="A service that imports one kind of the history bundle, for the tests.",
    settings=ServiceSettings,
    schema=SCHEMA,
    migrations=Path("/nonexistent"),
    events=registry,
    contract=lambda _settings: PublicContract(registry(), lambda event, _state: [event]),
    dependencies=make_deps,
    commands={},
    routers=[],
    imports=[
        ImportKind("widgets", WidgetRecord, apply_widgets, "Import widgets"),
        ImportKind("notes", NoteRecord, apply_notes, "Import notes"),
    ],
)


@pytest.fixture
async def toy_schema(database_url: str) -> str:
    from sqlalchemy.ext.asyncio import create_async_engine

    from libs.servicekit.settings import async_database_url

    engine = create_async_engine(async_database_url(database_url))
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await connection.run_sync(create_event_store_tables, SCHEMA)
        await connection.run_sync(create_import_tables, SCHEMA)
        await connection.execute(
            text(f"CREATE TABLE {SCHEMA}.widget (widget_id text PRIMARY KEY, name text NOT NULL)")
        )
    await engine.dispose()
    return database_url


@dataclass
class Toy:
    client: httpx.AsyncClient
    engine: AsyncEngine
    deps: ToyDeps

    async def post(
        self,
        lines: list[Any] | bytes,
        *,
        role: Role = Role.ADMIN,
        countries: list[str] | str = "*",
        bundle: str | None = BUNDLE,
        checksum: str | None = CHECKSUM,
        path: str = "/v1/imports/widgets",
        **params: Any,
    ) -> httpx.Response:
        body = lines if isinstance(lines, bytes) else jsonl(lines)
        headers = {
            "Authorization": f"Bearer {token(role, countries)}",
            "Content-Type": "application/x-ndjson",
            "X-Correlation-Id": "import-run-1",
        }
        if bundle is not None:
            headers["Import-Bundle"] = bundle
        if checksum is not None:
            headers["Import-Bundle-Checksum"] = checksum
        return await self.client.post(path, content=body, headers=headers, params=params)

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.engine.connect() as connection:
            result = await connection.execute(text(sql.replace("{S}", SCHEMA)), params)
            return list(result.all())

    async def counts(self) -> dict[str, int]:
        tables = ("event", "outbox", "stream", "widget", "import_record")
        return {
            table: (await self.rows(f"SELECT count(*) FROM {{S}}.{table}"))[0][0]
            for table in tables
        }


def token(role: Role, countries: list[str] | str = "*") -> str:
    staff = role in (Role.ADMIN, Role.ASSESSOR, Role.TRAINER)
    return mint_token(
        SECRET,
        f"{role}-7",
        role,
        factory_id="f-1" if role is Role.FACTORY else None,
        buyer_id="b-1" if role is Role.BUYER else None,
        countries=(countries if role is Role.ADMIN else ["KH"]) if staff else None,
    )


def jsonl(lines: list[Any]) -> bytes:
    return b"".join(
        (line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines
    )


def widget(source_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "source_id": source_id,
        "name": f"widget {source_id}",
        "country": "KH",
        "made_on": "2004-06-01",
        "parts": [{"name": "wheel", "count": 4}, {"name": "axle", "count": 2}],
        **changes,
    }


@pytest.fixture
async def toy(toy_schema: str, nats_url: str, subject_prefix: str) -> AsyncIterator[Toy]:
    settings = ServiceSettings(
        service_name="toy",
        database_url=toy_schema,
        nats_url=nats_url,
        subject_prefix=subject_prefix,
        jwt_secret=SECRET,
        environment="development",
    )
    app = TOY.app(settings)
    service = TOY.service_of(app)
    # no lifespan: the import runs on the engine and the store, and needs no NATS
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://toy") as client:
        try:
            yield Toy(client, service.engine, service.deps)
        finally:
            await service.store.close()
            await service.engine.dispose()


def problem_errors(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    document = response.json()
    assert document["type"].endswith("/import-rejected")
    errors: list[dict[str, Any]] = document["errors"]
    return errors


NOTHING = {"event": 0, "outbox": 0, "stream": 0, "widget": 0, "import_record": 0}


class TestImport:
    async def test_imports_the_records_at_their_business_time_attributed_to_the_bundle(
        self, toy: Toy
    ) -> None:
        before = datetime.now(UTC)
        response = await toy.post(
            [widget("W-1"), widget("W-2", made_on="2005-02-28", parts=[{"name": "a", "count": 1}])]
        )
        assert response.status_code == 200, response.text
        report = response.json()
        assert {key: report[key] for key in report if key != "seconds"} == {
            "kind": "widgets",
            "bundle_id": BUNDLE,
            "received": 2,
            "imported": 2,
            "unchanged": 0,
            "events": 5,
        }
        assert report["seconds"] >= 0

        stream = f"widget-{imported_id('widgets', 'W-1')}"
        loaded = await toy.deps.store.load(stream)
        assert [type(event.event).__name__ for event in loaded] == [
            "WidgetMade",
            "PartFitted",
            "PartFitted",
        ]
        assert {event.occurred_at for event in loaded} == {at_noon(date(2004, 6, 1))}
        assert loaded[0].imported == {
            "bundle": BUNDLE,
            "checksum": CHECKSUM,
            "kind": "widgets",
            "source_id": "W-1",
            "imported_by": "admin-7",
        }
        assert loaded[0].actor == "admin-7"
        assert loaded[0].metadata["correlationid"] == "import-run-1"
        assert loaded[0].recorded_at >= before - timedelta(seconds=1)

        published = [
            Envelope.from_json(bytes(row[0]))
            for row in await toy.rows("SELECT payload FROM {S}.outbox ORDER BY id")
        ]
        assert len(published) == 5
        assert {envelope.importedfrom for envelope in published} == {BUNDLE}
        assert {envelope.time for envelope in published} == {
            at_noon(date(2004, 6, 1)),
            at_noon(date(2005, 2, 28)),
        }
        assert await toy.rows("SELECT name FROM {S}.widget ORDER BY name") == [
            ("widget W-1",),
            ("widget W-2",),
        ]

    async def test_the_ledger_keeps_each_record_s_digest_bundle_importer_and_events(
        self, toy: Toy
    ) -> None:
        records = [widget("W-1"), widget("W-2", parts=[{"name": "a", "count": 1}])]
        assert (await toy.post(records)).status_code == 200
        ledger = await toy.rows(
            "SELECT kind, source_id, digest, bundle_id, bundle_checksum, imported_by, events, "
            "imported_at FROM {S}.import_record ORDER BY source_id"
        )
        assert [row[:7] for row in ledger] == [
            (
                "widgets",
                source_id,
                digest(WidgetRecord.model_validate(record)),
                BUNDLE,
                CHECKSUM,
                "admin-7",
                events,
            )
            for source_id, record, events in (("W-1", records[0], 3), ("W-2", records[1], 2))
        ]
        assert all(row[7] is not None for row in ledger)

    async def test_the_checksum_is_optional(self, toy: Toy) -> None:
        response = await toy.post([widget("W-1")], checksum=None)
        assert response.status_code == 200, response.text
        [(checksum,)] = await toy.rows("SELECT bundle_checksum FROM {S}.import_record")
        assert checksum is None

    async def test_blank_lines_are_skipped(self, toy: Toy) -> None:
        body = b"\n" + jsonl([widget("W-1")]) + b"   \n\r\n" + jsonl([widget("W-2")])
        response = await toy.post(body)
        assert response.status_code == 200, response.text
        assert (response.json()["received"], response.json()["imported"]) == (2, 2)

    async def test_an_empty_body_imports_nothing(self, toy: Toy) -> None:
        response = await toy.post(b"")
        assert response.status_code == 200, response.text
        assert (response.json()["received"], response.json()["events"]) == (0, 0)
        assert await toy.counts() == NOTHING


class TestImportingAgain:
    async def test_the_same_records_again_change_nothing(self, toy: Toy) -> None:
        first = await toy.post([widget("W-1"), widget("W-2")])
        assert first.status_code == 200
        counts = await toy.counts()
        # reordered members, another bundle: still the same records
        again = [dict(reversed(list(widget(s).items()))) for s in ("W-2", "W-1")]
        response = await toy.post(again, bundle="kh-history-rerun")
        assert response.status_code == 200, response.text
        assert {key: response.json()[key] for key in ("received", "imported", "unchanged")} == {
            "received": 2,
            "imported": 0,
            "unchanged": 2,
        }
        assert response.json()["events"] == 0
        assert await toy.counts() == counts
        assert {row[0] for row in await toy.rows("SELECT bundle_id FROM {S}.import_record")} == {
            BUNDLE
        }

    async def test_new_records_beside_known_ones_are_imported(self, toy: Toy) -> None:
        assert (await toy.post([widget("W-1")])).status_code == 200
        response = await toy.post([widget("W-1"), widget("W-3")])
        assert response.status_code == 200, response.text
        assert (response.json()["imported"], response.json()["unchanged"]) == (1, 1)
        assert (await toy.counts())["import_record"] == 2

    async def test_a_known_source_id_with_other_content_is_a_row_error(self, toy: Toy) -> None:
        assert (await toy.post([widget("W-1")])).status_code == 200
        counts = await toy.counts()
        response = await toy.post([widget("W-3"), widget("W-1", name="renamed")], first_line=11)
        assert problem_errors(response) == [
            {
                "line": 12,
                "source_id": "W-1",
                "field": "source_id",
                "reason": f"imported before (bundle {BUNDLE}) with other content",
            }
        ]
        assert await toy.counts() == counts  # W-3 neither

    async def test_two_identical_requests_at_once_import_the_records_once(self, toy: Toy) -> None:
        records = [widget(f"W-{n}") for n in range(50)]
        answers = await asyncio.gather(toy.post(records), toy.post(records))
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses[0] == 200, [answer.text for answer in answers]
        assert statuses[1] in (200, 409), [answer.text for answer in answers]
        # whatever the loser was told, sending again finds every record imported once
        response = await toy.post(records)
        assert response.status_code == 200
        assert response.json()["unchanged"] == 50
        counts = await toy.counts()
        assert (counts["import_record"], counts["widget"], counts["event"]) == (50, 50, 150)

    async def test_a_record_imported_by_a_request_at_the_same_time_is_a_409_not_a_500(
        self, toy: Toy
    ) -> None:
        """When `apply` writes nothing that conflicts, the ledger itself tells the two apart."""
        notes = jsonl([{"source_id": "N-1", "text": "a note"}])
        answers = await asyncio.gather(
            *(toy.post(notes, path="/v1/imports/notes") for _ in range(2))
        )
        assert sorted(answer.status_code for answer in answers) == [200, 409], [
            answer.text for answer in answers
        ]
        [lost] = [answer for answer in answers if answer.status_code == 409]
        assert lost.headers["content-type"].startswith("application/problem+json")
        again = await toy.post(notes, path="/v1/imports/notes")
        assert again.status_code == 200 and again.json()["unchanged"] == 1
        assert (await toy.counts())["import_record"] == 1


class TestRowErrors:
    async def test_each_bad_line_is_reported_with_its_line_and_field_and_nothing_imported(
        self, toy: Toy
    ) -> None:
        lines: list[Any] = [
            widget("W-1"),
            b"{not json",
            widget("W-3", parts=[{"name": "wheel", "count": 4}, {"name": "axle", "count": 0}]),
            widget("W-4", colour="red"),
            {"source_id": "W-5"},
            [1, 2, 3],
            widget("W-7", made_on="2004-02-30"),
        ]
        response = await toy.post(lines, first_line=101)
        errors = problem_errors(response)
        by_line: dict[int, list[dict[str, Any]]] = {}
        for error in errors:
            by_line.setdefault(error["line"], []).append(error)
        assert sorted(by_line) == [102, 103, 104, 105, 106, 107]
        assert by_line[102] == [
            {
                "line": 102,
                "source_id": None,
                "field": "record",
                "reason": by_line[102][0]["reason"],
            }
        ]
        assert by_line[102][0]["reason"].startswith("not a JSON document")
        assert [(e["source_id"], e["field"]) for e in by_line[103]] == [("W-3", "parts.1.count")]
        assert [(e["source_id"], e["field"]) for e in by_line[104]] == [("W-4", "colour")]
        assert {e["field"] for e in by_line[105]} == {"name", "country", "made_on", "parts"}
        assert [e["field"] for e in by_line[106]] == ["record"]
        assert [e["field"] for e in by_line[107]] == ["made_on"]
        assert response.json()["detail"].startswith("6 of 7 records are not valid")
        assert await toy.counts() == NOTHING

    async def test_line_numbers_count_blank_lines_and_start_at_first_line(self, toy: Toy) -> None:
        body = b"\n\n" + jsonl([widget("W-1", country="kh")])
        assert [(e["line"], e["field"]) for e in problem_errors(await toy.post(body))] == [
            (3, "country")
        ]
        again = await toy.post(body, first_line=5000)
        assert [e["line"] for e in problem_errors(again)] == [5002]

    async def test_a_source_id_twice_in_one_request_is_a_row_error(self, toy: Toy) -> None:
        response = await toy.post([widget("W-1"), widget("W-2"), widget("W-1", name="other")])
        assert problem_errors(response) == [
            {
                "line": 3,
                "source_id": "W-1",
                "field": "source_id",
                "reason": "given twice in this request (first on line 1)",
            }
        ]
        assert await toy.counts() == NOTHING

    async def test_an_admin_of_another_programme_is_not_told_a_record_was_imported(
        self, toy: Toy
    ) -> None:
        assert (await toy.post([widget("W-1", country="KH")], countries=["KH"])).status_code == 200
        before = await toy.counts()
        # the same record, and the same source id with other content, from a VN admin: answered
        # as any KH record is answered to it, not "unchanged" nor "imported before"
        for line in (widget("W-1", country="KH"), widget("W-1", country="KH", name="other")):
            response = await toy.post([line], countries=["VN"])
            assert problem_errors(response) == [
                {
                    "line": 1,
                    "source_id": "W-1",
                    "field": "country",
                    "reason": "KH is not your country programme",
                }
            ]
        assert await toy.counts() == before
        # the programme's own admin still sees it unchanged
        response = await toy.post([widget("W-1", country="KH")], countries=["KH"])
        assert response.status_code == 200 and response.json()["unchanged"] == 1

    async def test_a_rule_broken_in_apply_rolls_back_everything_apply_wrote(self, toy: Toy) -> None:
        response = await toy.post(
            [widget("W-1"), widget("W-2", name="cursed"), widget("W-3", country="VN")],
            countries=["KH"],
        )
        assert problem_errors(response) == [
            {
                "line": 2,
                "source_id": "W-2",
                "field": "name",
                "reason": "a cursed widget may not be imported",
            },
            {
                "line": 3,
                "source_id": "W-3",
                "field": "country",
                "reason": "VN is not your country programme",
            },
        ]
        # W-1's and W-2's events, outbox entries, rows and ledger entries: all rolled back
        assert await toy.counts() == NOTHING
        # without the bad records the good one imports
        response = await toy.post([widget("W-1")], countries=["KH"])
        assert response.status_code == 200 and response.json()["imported"] == 1

    @pytest.mark.parametrize(
        "line",
        [
            b'{"source_id": "W-1", "name": "a\\u0000b", "country": "KH", "made_on": "2004-06-01",'
            b' "parts": [{"name": "wheel", "count": 1}]}',
            b'{"source_id": "W-1", "name": "a\\ud800b", "country": "KH", "made_on": "2004-06-01",'
            b' "parts": [{"name": "wheel", "count": 1}]}',
            b'{"source_id": "W-1", "name": "w", "country": "KH", "made_on": "2004-06-01",'
            b' "parts": [{"name": "wheel", "count": 1}], "\\udfff": 1}',
            b'{"source_id": "\\ud800", "name": "w"}',
            b'{"source_id": "W-1", "name": "w", "country": "KH", "made_on": "2004-06-01",'
            b' "parts": [{"name": "wheel", "count": NaN}]}',
            b"\xff\xfe not UTF-8",
            b'"just a string"',
            b"null",
            b'{"source_id": "W-1", "parts": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        ],
    )
    async def test_what_cannot_be_stored_is_a_row_error_never_a_500(
        self, toy: Toy, line: bytes
    ) -> None:
        errors = problem_errors(await toy.post(line + b"\n"))
        assert {error["line"] for error in errors} == {1}
        assert await toy.counts() == NOTHING


class TestWhoAndHowMuch:
    @pytest.mark.parametrize("role", [Role.ASSESSOR, Role.TRAINER, Role.FACTORY, Role.BUYER])
    async def test_only_an_admin_imports(self, toy: Toy, role: Role) -> None:
        response = await toy.post([widget("W-1")], role=role)
        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert await toy.counts() == NOTHING

    async def test_without_a_token_it_is_a_401(self, toy: Toy) -> None:
        response = await toy.client.post(
            "/v1/imports/widgets", content=jsonl([widget("W-1")]), headers={"Import-Bundle": BUNDLE}
        )
        assert response.status_code == 401
        assert await toy.counts() == NOTHING

    @pytest.mark.parametrize(
        ("bundle", "checksum", "params"),
        [
            (None, CHECKSUM, {}),
            ("-bad", CHECKSUM, {}),
            ("x" * 101, CHECKSUM, {}),
            (BUNDLE, "sha256:short", {}),
            (BUNDLE, "md5:" + "c" * 64, {}),
            (BUNDLE, CHECKSUM, {"first_line": 0}),
            (BUNDLE, CHECKSUM, {"first_line": 2**31}),
            (BUNDLE, CHECKSUM, {"first_line": "one"}),
        ],
    )
    async def test_a_bad_header_or_first_line_is_a_422_that_changes_nothing(
        self, toy: Toy, bundle: str | None, checksum: str, params: dict[str, Any]
    ) -> None:
        response = await toy.post([widget("W-1")], bundle=bundle, checksum=checksum, **params)
        assert response.status_code == 422, response.text
        # the checksum's shape is checked in the route (an absent header is no `null`)
        expected = "/invalid-bundle-checksum" if checksum != CHECKSUM else "/validation-error"
        assert response.json()["type"].endswith(expected)
        assert await toy.counts() == NOTHING

    async def test_more_records_than_a_request_holds_is_a_413(self, toy: Toy) -> None:
        small = [{"source_id": f"W-{n}"} for n in range(MAX_RECORDS + 1)]  # 1 line each
        response = await toy.post(small)
        assert response.status_code == 413, response.text
        assert str(MAX_RECORDS) in response.json()["detail"]
        assert await toy.counts() == NOTHING

    async def test_as_many_records_as_a_request_holds_are_taken(self, toy: Toy) -> None:
        lines = [{"source_id": f"W-{n}"} for n in range(MAX_RECORDS)]
        errors = problem_errors(await toy.post(lines))  # each invalid, but counted, not refused
        assert len({error["line"] for error in errors}) == MAX_RECORDS

    async def test_a_body_past_the_service_s_import_request_limit_is_a_413(self, toy: Toy) -> None:
        # MAX_IMPORT_REQUEST_BYTES (32 MiB by default), not the 1 MiB of every other request
        response = await toy.post(b" " * (33_554_432 + 1))
        assert response.status_code == 413
        assert response.headers["content-type"].startswith("application/problem+json")
        assert await toy.counts() == NOTHING

    async def test_a_body_past_the_import_s_own_limit_is_a_413(self, toy: Toy) -> None:
        principal = Principal("admin-7", Role.ADMIN)
        with pytest.raises(Exception) as refused:
            await run_import(
                TOY.imports[0],
                deps=toy.deps,
                engine_begin=toy.engine.begin,
                schema=SCHEMA,
                principal=principal,
                body=b" " * (MAX_BODY_BYTES + 1),
                bundle_id=BUNDLE,
                bundle_checksum=None,
                first_line=1,
            )
        assert getattr(refused.value, "status", None) == 413
        assert not isinstance(refused.value, ImportRejected)
        assert await toy.counts() == NOTHING
