"""Audit reliance: only with a grant in force, ended by a revocation, and counted in the
programme statistics per year and country."""

from __future__ import annotations

from datetime import date, timedelta

from libs.domain.envelope import Envelope
from services.buyer_sharing.tests.integration.conftest import Service, Upstream

PERIOD = {"period_start": "2025-01-01", "period_end": "2025-12-31"}


def completed(upstream: Upstream, factory_id: str, country: str = "KH") -> list[Envelope]:
    """A factory and its completed assessment `<factory>-a1`, which a reliance names."""
    return [
        upstream.factory(factory_id, country),
        *upstream.assessment(
            factory_id,
            f"{factory_id}-a1",
            1,
            date(2025, 3, 1),
            [("Q1", True, False, "compliant")],
            country,
        ),
    ]


async def test_reliance_needs_a_grant_and_ends_with_its_revocation(
    service: Service, upstream: Upstream
) -> None:
    await service.register_buyer("brand-a")
    await service.feed([*completed(upstream, "f1")])
    headers = service.buyer("brand-a")
    refused = await service.client.post(
        "/v1/audit-reliance",
        json={"factory_id": "f1", "assessment_id": "f1-a1", **PERIOD},
        headers=headers,
    )
    assert refused.status_code == 404
    await service.grant("f1", "brand-a")
    declared = await service.client.post(
        "/v1/audit-reliance",
        json={"factory_id": "f1", "assessment_id": "f1-a1", **PERIOD},
        headers=headers,
    )
    assert declared.status_code == 201, declared.text
    reliance_id = declared.json()["reliance_id"]
    other = await service.client.post(
        f"/v1/audit-reliance/{reliance_id}/withdraw",
        json={"reason": "not mine"},
        headers=service.buyer("brand-b"),
    )
    assert other.status_code == 404

    await service.client.post(
        "/v1/sharing-grants/f1/brand-a/revoke",
        json={"reason": "ended"},
        headers=service.factory("f1"),
    )
    (row,) = (await service.client.get("/v1/audit-reliance", headers=headers)).json()["items"]
    assert (row["withdrawal_reason"], row["withdrawn_by"]) == ("sharing revoked", "f1-manager")


async def test_a_grant_again_with_an_earlier_end_withdraws_the_reliances_it_outlives(
    service: Service, upstream: Upstream
) -> None:
    today = service.clock().date()
    await service.register_buyer("brand-a")
    await service.feed([*completed(upstream, "f1")])
    headers = service.buyer("brand-a")
    assert (await service.grant("f1", "brand-a")).status_code == 201
    ids = {}
    for name, days in (("long", 300), ("short", 20)):
        declared = await service.client.post(
            "/v1/audit-reliance",
            json={
                "factory_id": "f1",
                "assessment_id": "f1-a1",
                "period_start": today.isoformat(),
                "period_end": (today + timedelta(days=days)).isoformat(),
            },
            headers=headers,
        )
        assert declared.status_code == 201, declared.text
        ids[name] = declared.json()["reliance_id"]

    new_end = today + timedelta(days=60)
    regranted = await service.grant("f1", "brand-a", ends_on=new_end.isoformat())
    assert regranted.status_code == 201, regranted.text

    rows = (await service.client.get("/v1/audit-reliance", headers=headers)).json()["items"]
    by_id = {row["reliance_id"]: row for row in rows}
    assert by_id[ids["long"]]["withdrawn_by"] == "f1-manager"
    assert new_end.isoformat() in by_id[ids["long"]]["withdrawal_reason"]
    assert by_id[ids["short"]]["withdrawn_at"] is None
    # the buyer may declare again within the new end date, not past it
    again = await service.client.post(
        "/v1/audit-reliance",
        json={
            "factory_id": "f1",
            "assessment_id": "f1-a1",
            "period_start": today.isoformat(),
            "period_end": (new_end + timedelta(days=1)).isoformat(),
        },
        headers=headers,
    )
    assert again.status_code == 422
    assert again.headers["content-type"].startswith("application/problem+json")


async def test_programme_statistics_per_year_and_country(
    service: Service, upstream: Upstream
) -> None:
    for buyer_id in ("brand-a", "brand-b", "brand-c"):
        await service.register_buyer(buyer_id)
    await service.feed(
        [
            *completed(upstream, "f1", "KH"),
            *completed(upstream, "f2", "KH"),
            *completed(upstream, "f3", "BD"),
        ]
    )
    await service.grant("f1", "brand-a")
    await service.grant("f2", "brand-a")
    await service.grant("f1", "brand-b")
    await service.grant("f3", "brand-c")
    for factory_id in ("f1", "f2"):
        response = await service.client.post(
            "/v1/audit-reliance",
            json={"factory_id": factory_id, "assessment_id": f"{factory_id}-a1", **PERIOD},
            headers=service.buyer("brand-a"),
        )
        assert response.status_code == 201
    stats = await service.client.get(
        "/v1/audit-reliance/statistics?year=2025", headers=service.admin
    )
    assert stats.status_code == 200
    assert {row["country"]: row for row in stats.json()} == {
        "BD": {
            "year": 2025,
            "country": "BD",
            "buyers_participating": 1,
            "buyers_relying": 0,
            "factories_covered": 1,
            "audits_avoided": 0,
        },
        "KH": {
            "year": 2025,
            "country": "KH",
            "buyers_participating": 2,
            "buyers_relying": 1,
            "factories_covered": 2,
            "audits_avoided": 2,
        },
    }
    forbidden = await service.client.get(
        "/v1/audit-reliance/statistics", headers=service.buyer("brand-a")
    )
    assert forbidden.status_code == 403


async def test_statistics_count_a_reliance_only_in_the_years_its_factory_shared(
    service: Service, upstream: Upstream
) -> None:
    await service.register_buyer("brand-a")
    await service.feed([*completed(upstream, "f1", "KH")])
    await service.grant("f1", "brand-a")  # on 2 June 2025, the service's clock
    declared = await service.client.post(
        "/v1/audit-reliance",
        json={
            "factory_id": "f1",
            "assessment_id": "f1-a1",
            "period_start": "2024-01-01",
            "period_end": "2025-12-31",
        },
        headers=service.buyer("brand-a"),
    )
    assert declared.status_code == 201, declared.text
    stats = await service.client.get("/v1/audit-reliance/statistics", headers=service.admin)
    assert [
        (row["year"], row["buyers_relying"], row["audits_avoided"]) for row in stats.json()
    ] == [(2025, 1, 1)]


async def test_a_revocation_with_a_stale_if_match_is_refused_and_changes_nothing(
    service: Service, upstream: Upstream
) -> None:
    """The grant's ETag moves when the buyer declares a reliance on the same pair, so a factory
    that revokes on what it read before gets a 412, not a silent overwrite."""
    await service.register_buyer("brand-a")
    await service.feed([*completed(upstream, "f1")])
    await service.grant("f1", "brand-a")
    grant_path = "/v1/sharing-grants/f1/brand-a"
    read = await service.client.get(grant_path, headers=service.factory("f1"))
    stale_etag = read.headers["etag"]
    declared = await service.client.post(
        "/v1/audit-reliance",
        json={"factory_id": "f1", "assessment_id": "f1-a1", **PERIOD},
        headers=service.buyer("brand-a"),
    )
    assert declared.status_code == 201, declared.text
    now = await service.client.get(grant_path, headers=service.factory("f1"))
    assert now.headers["etag"] != stale_etag

    stale = await service.client.post(
        f"{grant_path}/revoke",
        json={"reason": "ended"},
        headers={**service.factory("f1"), "If-Match": stale_etag},
    )
    assert stale.status_code == 412
    after = await service.client.get(grant_path, headers=service.factory("f1"))
    assert after.json()["active"] is True and after.headers["etag"] == now.headers["etag"]

    revoked = await service.client.post(
        f"{grant_path}/revoke",
        json={"reason": "ended"},
        headers={**service.factory("f1"), "If-Match": now.headers["etag"]},
    )
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert (
        revoked.headers["etag"]
        == (await service.client.get(grant_path, headers=service.factory("f1"))).headers["etag"]
    )
