"""A programme's past (issue 19): training sessions of 2004 to 2006 and advisory visits imported
through `POST /v1/imports/...` count in the figures by their business years, publish their
public events at their business time marked as imported, import again with no change, and are
rebuilt as they were projected."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import text

from services.advisory.domain.history import factory_id, participant_id, session_id, visit_id
from services.advisory.tables import SCHEMA
from services.advisory.tests.integration.conftest import Service, poll
from services.advisory.tests.integration.history import (
    BUNDLE,
    SESSIONS,
    VISITS,
    factories_known,
    imported,
    noon,
    post,
)
from services.advisory.tests.integration.test_rebuild import rebuild

F1, F2, F3 = (factory_id(source) for source in ("KH-F1", "KH-F2", "KH-F3"))


async def given_the_past(service: Service) -> None:
    await factories_known(service, ("KH-F1", "KH"), ("KH-F2", "KH"), ("KH-F3", "KH"))
    # F1's first assessment report came out on 2004-05-01 (imported too)
    await service.publish(
        imported(service.upstream.completed(F1, 1, date(2004, 5, 1)), date(2004, 5, 1))
    )
    await poll(service.caught_up)
    sessions = await post(service, "training-sessions", SESSIONS)
    assert sessions.status_code == 200, sessions.text
    assert sessions.json() | {"seconds": 0} == {
        "kind": "training-sessions",
        "bundle_id": BUNDLE,
        "received": 3,
        "imported": 3,
        "unchanged": 0,
        # each session: scheduled, signed, delivered; and its part on 4 factory records
        "events": 3 * 3 + 4,
        "seconds": 0,
    }
    visits = await post(service, "advisory-visits", VISITS)
    assert visits.status_code == 200, visits.text
    assert (visits.json()["imported"], visits.json()["events"]) == (2, 4)


async def test_the_figures_count_the_past_by_the_year_each_session_ended(service: Service) -> None:
    await given_the_past(service)
    answer = await service.client.get("/v1/training-sessions/figures")
    assert answer.status_code == 200
    assert [
        (f["year"], f["participants"], f["completions"], f["cumulative_participants"])
        for f in answer.json()["figures"]
    ] == [(2004, 3, 2, 3), (2005, 3, 2, 6), (2006, 2, 2, 8)]
    by_course = await service.client.get(
        "/v1/training-sessions/figures", params={"by": "course_code", "from_year": 2005}
    )
    assert [(f["year"], f["course_code"]) for f in by_course.json()["figures"]] == [
        (2005, "OSH"),
        (2006, "WRR"),
    ]


async def test_an_imported_session_is_delivered_on_its_last_day(service: Service) -> None:
    await given_the_past(service)
    found = await service.client.get(
        f"/v1/training-sessions/{session_id('S-2005-01')}", headers=service.trainer()
    )
    assert found.status_code == 200, found.text
    body = found.json()
    assert (body["status"], body["delivered_on"], body["open_session"]) == (
        "delivered",
        "2005-05-11",
        True,
    )
    assert (body["capacity"], body["participants"], body["completions"]) == (3, 3, 2)
    assert [(p["factory_id"], p["participants"]) for p in body["factories"]] == sorted(
        [(F1, 1), (F2, 2)]
    )
    sheet = await service.client.get(
        f"/v1/training-sessions/{session_id('S-2004-01')}/attendance", headers=service.trainer()
    )
    assert [
        (row["participant_id"], row["attended_on"], row["completed"])
        for row in sheet.json()["items"]
    ] == sorted(
        [
            (participant_id("S-2004-01", 0), [f"2004-03-0{d}" for d in (1, 2, 3, 4)], True),
            (participant_id("S-2004-01", 1), [f"2004-03-0{d}" for d in (1, 2, 3, 4)], True),
            (participant_id("S-2004-01", 2), ["2004-03-01", "2004-03-02"], False),
        ]
    )
    mine = await service.client.get("/v1/training-sessions", headers=service.factory(F3))
    assert [row["session_id"] for row in mine.json()["items"]] == [session_id("S-2006-01")]


async def test_imported_facts_are_published_at_their_business_time(service: Service) -> None:
    await given_the_past(service)
    delivered = await service.published("TrainingSessionDelivered", 4)
    assert sorted(
        (e["data"]["factory_id"], e["data"]["end_date"], e["time"], e["importedfrom"])
        for e in delivered
    ) == sorted(
        [
            (F1, "2004-03-04", noon("2004-03-04"), BUNDLE),
            (F1, "2005-05-11", noon("2005-05-11"), BUNDLE),
            (F2, "2005-05-11", noon("2005-05-11"), BUNDLE),
            (F3, "2006-01-01", noon("2006-01-01"), BUNDLE),
        ]
    )
    for envelope in delivered:
        assert envelope["subject"] == envelope["data"]["factory_id"]
        assert datetime.fromisoformat(envelope["recordedtime"]).year >= 2025
    completed = await service.published("AdvisoryVisitCompleted", 2)
    assert sorted(
        (e["data"]["visit_id"], e["data"]["duration_days"], e["time"], e["importedfrom"])
        for e in completed
    ) == sorted(
        [
            (visit_id("V-2004-01"), 1.5, noon("2004-06-15"), BUNDLE),
            (visit_id("V-2006-01"), 0.5, noon("2006-02-01"), BUNDLE),
        ]
    )
    assert all("notes" not in e["data"] for e in completed)


async def test_the_history_attributes_each_event_to_its_record(service: Service) -> None:
    await given_the_past(service)
    async with service.assembled.engine.connect() as connection:
        rows = await connection.execute(
            text(
                f"SELECT event_type, metadata FROM {SCHEMA}.event WHERE stream_id = :stream "
                "ORDER BY version"
            ),
            {"stream": f"training-session-{session_id('S-2004-01')}"},
        )
        history = [(row[0].split(".")[3], row[1]) for row in rows]
        ledger = await connection.execute(
            text(
                "SELECT kind, source_id, bundle_id, imported_by, events, country "
                f"FROM {SCHEMA}.import_record"
            )
        )
        recorded = sorted(tuple(row) for row in ledger)
    assert [(name, metadata["occurred_at"]) for name, metadata in history] == [
        ("SessionScheduled", "2004-03-01T12:00:00+00:00"),
        ("AttendanceRecorded", "2004-03-04T12:00:00+00:00"),
        ("SessionDelivered", "2004-03-04T12:00:00+00:00"),
    ]
    origin: dict[str, Any] = history[0][1]["imported"]
    assert origin == {
        "bundle": BUNDLE,
        "checksum": None,
        "kind": "training-sessions",
        "source_id": "S-2004-01",
        "imported_by": "admin-1",
    }
    assert [row[:4] for row in recorded] == sorted(
        [("training-sessions", s["source_id"], BUNDLE, "admin-1") for s in SESSIONS]
        + [("advisory-visits", v["source_id"], BUNDLE, "admin-1") for v in VISITS]
    )
    assert sum(row[4] for row in recorded) == 13 + 4
    assert {row[5] for row in recorded} == {"KH"}  # each record's programme


async def test_visits_are_in_the_cycle_of_their_day(service: Service) -> None:
    await given_the_past(service)
    days = await service.client.get(
        "/v1/advisory-visits/days", params={"factory_id": F1}, headers=service.advisor()
    )
    assert days.status_code == 200, days.text
    assert [(c["cycle"], c["visits"], c["days"]) for c in days.json()["cycles"]] == [(1, 1, 1.5)]
    listed = await service.client.get(
        "/v1/advisory-visits", params={"factory_id": F2}, headers=service.advisor()
    )
    assert [
        (v["visit_id"], v["status"], v["planned_for"], v["visited_on"], v["advisor"])
        for v in listed.json()["items"]
    ] == [(visit_id("V-2006-01"), "completed", "2006-02-01", "2006-02-01", "admin-1")]


async def test_importing_again_changes_nothing(service: Service) -> None:
    await given_the_past(service)
    rows, history = await service.rows(), await service.history()
    again = await post(service, "training-sessions", SESSIONS)
    assert again.status_code == 200, again.text
    assert (again.json()["imported"], again.json()["unchanged"], again.json()["events"]) == (
        0,
        3,
        0,
    )
    visits = await post(service, "advisory-visits", VISITS)
    assert (visits.json()["imported"], visits.json()["unchanged"]) == (0, 2)
    assert await service.rows() == rows
    assert await service.history() == history


async def test_a_rebuild_gives_the_imported_read_models_again(service: Service) -> None:
    await given_the_past(service)
    live = await service.rows()
    assert len(live["training_figure"]) == 6 and len(live["advisory_visit"]) == 2
    await rebuild(service)
    assert await service.rows() == live


async def test_the_assessment_services_imported_backlog_is_recorded_at_its_times(
    service: Service,
) -> None:
    """A programme's factories, their yearly updates and reports arrive at once (the consumer's
    batch path): each factory's record takes them in order, each at its upstream business time
    and marked imported from the same bundle."""
    upstream, sources = service.upstream, [f"KH-B{index}" for index in range(30)]
    backlog = []
    for source in sources:
        backlog.append(imported(upstream.factory(factory_id(source), "KH"), date(2003, 1, 15)))
        backlog.append(imported(upstream.factory(factory_id(source), "VN"), date(2004, 1, 1)))
        for cycle, year in ((1, 2004), (2, 2005)):
            report = upstream.completed(factory_id(source), cycle, date(year, 5, 1))
            backlog.append(imported(report, date(year, 5, 1)))
    await service.publish(*backlog)
    await poll(service.caught_up)
    rows = await service.rows()
    ours = {factory_id(source) for source in sources}
    assert (
        sorted((r["country"], r["version"]) for r in rows["factory"] if r["factory_id"] in ours)
        == [("VN", 4)] * 30
    )
    assert len([r for r in rows["factory_cycle"] if r["factory_id"] in ours]) == 60
    async with service.assembled.engine.connect() as connection:
        found = await connection.execute(
            text(
                f"SELECT metadata->>'occurred_at', metadata->'imported'->>'bundle' "
                f"FROM {SCHEMA}.event WHERE stream_id = :stream ORDER BY version"
            ),
            {"stream": f"factory-{factory_id('KH-B7')}"},
        )
        assert [tuple(row) for row in found] == [
            ("2003-01-15T12:00:00+00:00", BUNDLE),
            ("2004-01-01T12:00:00+00:00", BUNDLE),
            ("2004-05-01T12:00:00+00:00", BUNDLE),
            ("2005-05-01T12:00:00+00:00", BUNDLE),
        ]
