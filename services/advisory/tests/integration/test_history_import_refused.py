"""The history import refuses what the live rules refuse: a request with any bad record is a 422
`import-rejected` naming each bad line and field, and imports nothing, not even its good records;
only an admin imports, and only for factories of its country programmes."""

from __future__ import annotations

from typing import Any

import pytest

from libs.servicekit.auth import Role, mint_token
from services.advisory.domain.history import factory_id
from services.advisory.tests.integration.conftest import Service
from services.advisory.tests.integration.history import (
    SESSIONS,
    VISITS,
    attendee,
    factories_known,
    post,
    session,
    visit,
)


@pytest.fixture
async def known(service: Service) -> Service:
    await factories_known(service, ("KH-F1", "KH"), ("KH-F2", "KH"), ("VN-F1", "VN"))
    return service


def errors(answer: Any) -> list[tuple[int, str]]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["type"].endswith("import-rejected")
    return [(error["line"], error["field"]) for error in body["errors"]]


async def test_bad_sessions_are_reported_by_line_and_field_and_nothing_is_imported(
    known: Service,
) -> None:
    before = (await known.rows(), await known.history())
    good = SESSIONS[0]
    records = [
        good,
        session("S-BAD-1", "COOKING", ["KH-F1"], "2004-01-05", "2004-01-06", attendee("KH-F1", 1)),
        session(
            "S-BAD-2", "WRR", ["KH-F1", "KH-F9"], "2004-01-05", "2004-01-05", attendee("KH-F1", 1)
        ),
        session("S-BAD-3", "WRR", ["KH-F1"], "2004-01-05", "2004-01-04", attendee("KH-F1", 1)),
        session("S-BAD-4", "WRR", ["KH-F1"], "2004-01-05", "2004-01-05", attendee("KH-F2", 1)),
        session("S-BAD-5", "OSH", ["KH-F1"], "2004-01-05", "2004-01-07", attendee("KH-F1", 3)),
        session("S-BAD-6", "SST", ["KH-F1"], "2004-01-05", "2004-01-06", attendee("KH-F1", 2)),
        session("S-BAD-7", "WRR", ["KH-F1"], "2004-01-05", "2004-01-05", attendee("KH-F1", 0)),
        session(
            "S-BAD-8", "WRR", ["KH-F1", "VN-F1"], "2004-01-05", "2004-01-05", attendee("KH-F1", 1)
        ),
        session(
            "S-BAD-9",
            "WRR",
            ["KH-F1"],
            "2004-01-05",
            "2004-01-05",
            attendee("KH-F1", 1),
            language="xx",
        ),
    ]
    answer = await post(known, "training-sessions", records)
    assert errors(answer) == [
        (2, "course_code"),  # not in the catalogue
        (3, "factories.1"),  # unknown to this service
        (4, "record"),  # ends before it starts
        (5, "record"),  # an attendee of a factory not in the session
        (6, "attendees.0.days_attended"),  # more days than the course has
        (7, "end_date"),  # no room for the course's four days
        (8, "attendees.0.days_attended"),  # attended no day
        (9, "factories"),  # factories of two country programmes
        (10, "language"),  # the course is not given in it
    ]
    reasons = {error["line"]: error["reason"] for error in answer.json()["errors"]}
    assert "KH-F9" in reasons[3] and "before" in reasons[4] and "factory" in reasons[5]
    assert (await known.rows(), await known.history()) == before


async def test_bad_visits_are_refused_and_nothing_is_imported(known: Service) -> None:
    before = (await known.rows(), await known.history())
    records = [
        VISITS[0],
        visit("V-BAD-1", "KH-F9", "2004-06-15", 1),
        visit("V-BAD-2", "KH-F1", "2004-06-15", 12),
        {**visit("V-BAD-3", "KH-F1", "2004-06-15", 1), "purpose": "tea"},
    ]
    answer = await post(known, "advisory-visits", records)
    assert errors(answer) == [(2, "factory"), (3, "duration_days"), (4, "purpose")]
    assert (await known.rows(), await known.history()) == before


async def test_the_same_source_id_with_other_content_is_refused(known: Service) -> None:
    assert (await post(known, "advisory-visits", VISITS[:1])).status_code == 200
    history = await known.history()
    changed = {**VISITS[0], "duration_days": 2}
    assert errors(await post(known, "advisory-visits", [changed])) == [(1, "source_id")]
    assert await known.history() == history


@pytest.mark.parametrize("role", [Role.TRAINER, Role.ASSESSOR, Role.FACTORY, Role.BUYER])
async def test_only_an_admin_imports(known: Service, role: Role) -> None:
    before = await known.history()
    if role is Role.FACTORY:
        headers = known.factory(factory_id("KH-F1"))
    elif role is Role.BUYER:
        token = mint_token(known.settings.jwt_secret, "buyer-1", role, buyer_id="buyer-1")
        headers = {"Authorization": f"Bearer {token}"}
    else:
        headers = known.token(role, "someone", countries=["KH"])
    for kind, records in (("training-sessions", SESSIONS), ("advisory-visits", VISITS)):
        answer = await post(known, kind, records, headers=headers)
        assert answer.status_code == 403, answer.text
    assert (await post(known, "advisory-visits", VISITS, headers={})).status_code == 401
    assert await known.history() == before


async def test_an_admin_of_another_programme_imports_nothing_of_this_one(known: Service) -> None:
    """Another country's factory is not known to that admin: the same answer as a factory that
    does not exist, so nothing is learnt of another programme."""
    before = await known.history()
    vietnam = known.token(Role.ADMIN, "admin-vn", countries=["VN"])
    sessions = await post(known, "training-sessions", SESSIONS[:1], headers=vietnam)
    assert errors(sessions) == [(1, "factories.0")]
    assert sessions.json()["errors"][0]["reason"] == "factory KH-F1 is not known"
    assert errors(await post(known, "advisory-visits", VISITS, headers=vietnam)) == [
        (1, "factory"),
        (2, "factory"),
    ]
    assert await known.history() == before
    own = session("S-VN-1", "WRR", ["VN-F1"], "2004-01-05", "2004-01-05", attendee("VN-F1", 1))
    assert (await post(known, "training-sessions", [own], headers=vietnam)).status_code == 200


async def test_another_programmes_admin_is_not_told_a_record_was_imported(known: Service) -> None:
    """The ledger knows the record's programme: sent again by an admin of another one, it is
    answered as any record of a factory that admin may not see, not as `unchanged`."""
    assert (await post(known, "training-sessions", SESSIONS[:1])).status_code == 200
    assert (await post(known, "advisory-visits", VISITS[:1])).status_code == 200
    before = (await known.rows(), await known.history())
    vietnam = known.token(Role.ADMIN, "admin-vn", countries=["VN"])
    sessions = await post(known, "training-sessions", SESSIONS[:1], headers=vietnam)
    assert errors(sessions) == [(1, "factories.0")]
    assert sessions.json()["errors"][0]["reason"] == "factory KH-F1 is not known"
    visits = await post(known, "advisory-visits", VISITS[:1], headers=vietnam)
    assert errors(visits) == [(1, "factory")]
    assert (await known.rows(), await known.history()) == before
    again = await post(known, "training-sessions", SESSIONS[:1])  # its own programme's admin
    assert (again.status_code, again.json()["unchanged"]) == (200, 1)
