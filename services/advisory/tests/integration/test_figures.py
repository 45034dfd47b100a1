"""The public programme figures with the deployment's minimums: cells below them are withheld,
and the figures need no token."""

from __future__ import annotations

import asyncio

import pytest

from services.advisory.settings import AdvisorySettings
from services.advisory.tests.integration.conftest import Service, attendee, schedule, sign


@pytest.fixture
def settings(migrated_database: str, nats_url: str, subject_prefix: str) -> AdvisorySettings:
    return AdvisorySettings(
        database_url=migrated_database,
        nats_url=nats_url,
        subject_prefix=subject_prefix,
        figures_min_participants=3,
        figures_min_factories=2,
    )


async def deliver(service: Service, factory_id: str, *participants: str, role: str) -> None:
    session_id = (await schedule(service, factory_id, capacity=10)).json()["session_id"]
    lines = [attendee(p, role=role) for p in participants]
    assert (await sign(service, session_id, *lines)).status_code == 200
    delivered = await service.client.post(
        f"/v1/training-sessions/{session_id}/delivery", headers=service.trainer()
    )
    assert delivered.status_code == 200, delivered.text


async def test_cells_below_the_minimums_are_withheld(service: Service) -> None:
    await service.known(("f-1", "KH"), ("f-2", "KH"))
    await deliver(service, "f-1", "p-1", "p-2", role="supervisor")
    await deliver(service, "f-2", "p-1", "p-2", role="supervisor")
    await deliver(service, "f-1", "p-3", "p-4", "p-5", "p-6", role="worker")
    by_role = await service.client.get("/v1/training-sessions/figures", params={"by": "role"})
    assert by_role.status_code == 200
    body = by_role.json()
    assert (body["min_participants"], body["min_factories"]) == (3, 2)
    assert [
        (f["role"], f["participants"], f["suppressed"], f["cumulative_participants"])
        for f in body["figures"]
    ] == [
        ("supervisor", 4, False, 4),  # two factories
        ("worker", None, True, None),  # four workers, but of one factory
    ]
    total = (await service.client.get("/v1/training-sessions/figures")).json()["figures"]
    assert [(f["country"], f["year"], f["participants"], f["completions"]) for f in total] == [
        ("KH", 2025, 8, 8)
    ]


async def test_an_answer_is_kept_until_a_delivery_changes_the_figures(service: Service) -> None:
    await service.known(("f-1", "KH"), ("f-2", "KH"))
    await deliver(service, "f-1", "p-1", "p-2", role="supervisor")
    first = await service.client.get("/v1/training-sessions/figures")
    etag = first.headers["ETag"]
    unchanged = await service.client.get(
        "/v1/training-sessions/figures", headers={"If-None-Match": etag}
    )
    assert unchanged.status_code == 304 and unchanged.headers["ETag"] == etag
    await deliver(service, "f-2", "p-1", "p-2", role="supervisor")
    after = await service.client.get(
        "/v1/training-sessions/figures", headers={"If-None-Match": etag}
    )
    assert after.status_code == 200 and after.headers["ETag"] != etag
    assert [f["participants"] for f in after.json()["figures"]] == [4]
    assert first.json()["figures"][0]["suppressed"]


async def test_deliveries_at_once_that_add_to_the_same_cells_all_succeed(service: Service) -> None:
    """Each delivery adds to the same figure cells, its sheet in another order: the cells are
    locked in key order, so the deliveries wait for each other instead of deadlocking (a 500
    before: bench/advisory_bench.py at c=16)."""
    factories = [(f"f-{index}", "KH") for index in range(12)]
    await service.known(*factories)
    cells = [
        (role, gender)
        for role in ("worker", "supervisor", "manager", "committee_member")
        for gender in ("female", "male")
    ]
    sessions = []
    for index, (factory_id, _country) in enumerate(factories):
        session_id = (await schedule(service, factory_id, capacity=10)).json()["session_id"]
        # sheets of different sizes over the same cells: each statement's rows come in another
        # order (the grouping's hash table differs with its size)
        order = (cells[index % len(cells) :] + cells[: index % len(cells)])[: 3 + index % 6]
        if index % 2:
            order.reverse()
        lines = [
            attendee(f"p-{position}", role=role, gender=gender)
            for position, (role, gender) in enumerate(order)
        ]
        assert (await sign(service, session_id, *lines)).status_code == 200
        sessions.append(session_id)

    async def deliver_one(session_id: str) -> int:
        response = await service.client.post(
            f"/v1/training-sessions/{session_id}/delivery", headers=service.trainer()
        )
        return response.status_code

    assert await asyncio.gather(*(deliver_one(session_id) for session_id in sessions)) == [
        200
    ] * len(sessions)
    total = (await service.client.get("/v1/training-sessions/figures")).json()["figures"]
    expected = sum(3 + index % 6 for index in range(len(factories)))
    assert [(f["participants"], f["completions"]) for f in total] == [(expected, expected)]
