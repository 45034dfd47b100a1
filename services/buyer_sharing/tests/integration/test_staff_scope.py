"""Finding 7 of issue 22 (buyer sharing's part): staff act within their country programmes. A
programme admin of Cambodia (`countries: ["KH"]`) reads and writes the sharing data of Cambodian
factories only: a Bangladeshi factory's grants, requests, portfolio rows, reports, reliances and
statistics are a 404 or absent from lists, as for any other tenant; a factory of unknown country is
the headquarters' alone; the headquarters' admin (`countries: "*"`) sees everything. Assessors
and trainers have no role here at all (403), whatever their country."""

from __future__ import annotations

from datetime import date
from typing import Any

from libs.servicekit.auth import Role
from services.buyer_sharing.tests.integration.conftest import Service, Upstream

KH_OS_ID = "KH2019257Q2JMGF"
BD_OS_ID = "BD2019257Q2JMGX"


async def given_two_country_programmes(service: Service, upstream: Upstream) -> dict[str, str]:
    """kh1 (Cambodia) and bd1 (Bangladesh), each with a completed assessment, shared with
    brand-a and relied on; ghost (never registered) shared too; brand-a's pending requests to
    each, and by OS IDs of both countries that no factory is known by. Request ids by name."""
    await service.register_buyer("brand-a")
    await service.register_buyer("brand-b")
    events = []
    for factory_id, country in (("kh1", "KH"), ("bd1", "BD")):
        events.append(upstream.factory(factory_id, country))
        events += upstream.assessment(
            factory_id,
            f"{factory_id}-a1",
            1,
            date(2025, 3, 1),
            [("Q1", True, False, "non_compliant")],
            country,
        )
    await service.feed(events)
    buyer = service.buyer("brand-a")
    for factory_id in ("kh1", "bd1", "ghost"):
        assert (await service.grant(factory_id, "brand-a")).status_code == 201
    for factory_id in ("kh1", "bd1"):
        declared = await service.client.post(
            "/v1/audit-reliance",
            json={
                "factory_id": factory_id,
                "assessment_id": f"{factory_id}-a1",
                "period_start": "2025-06-02",
                "period_end": "2025-12-31",
            },
            headers=buyer,
        )
        assert declared.status_code == 201, declared.text
    requests = {}
    for name, body in (
        ("kh1", {"factory_id": "kh1"}),
        ("bd1", {"factory_id": "bd1"}),
        ("kh os id", {"os_id": KH_OS_ID}),
        ("bd os id", {"os_id": BD_OS_ID}),
    ):
        asked = await service.client.post(
            "/v1/access-requests", json=body, headers=service.buyer("brand-b")
        )
        assert asked.status_code == 202
        requests[name] = asked.json()["request_id"]
    return requests


async def lists_as(service: Service, headers: dict[str, str]) -> dict[str, Any]:
    """What each list of factory data holds for this caller."""

    async def items(path: str) -> list[dict[str, Any]]:
        response = await service.client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        found: list[dict[str, Any]] = response.json()["items"]
        return found

    csv = await service.client.get("/v1/buyers/brand-a/factories.csv", headers=headers)
    statistics = await service.client.get("/v1/audit-reliance/statistics", headers=headers)
    return {
        "grants": sorted(g["factory_id"] for g in await items("/v1/sharing-grants")),
        "requests": sorted(
            ((r["factory_id"], r["os_id"]) for r in await items("/v1/access-requests")), key=str
        ),
        "portfolio": sorted(
            f["factory_id"] for f in await items("/v1/buyers/brand-a/factories?limit=10")
        ),
        "csv": sorted(line.split(",")[0] for line in csv.text.splitlines()[1:]),
        "reliances": sorted(r["factory_id"] for r in await items("/v1/audit-reliance")),
        "statistics": sorted(row["country"] or "unknown" for row in statistics.json()),
    }


EVERYTHING = {
    "grants": ["bd1", "ghost", "kh1"],
    "requests": sorted([("bd1", None), ("kh1", None), (None, BD_OS_ID), (None, KH_OS_ID)], key=str),
    "portfolio": ["bd1", "ghost", "kh1"],
    "csv": ["bd1", "ghost", "kh1"],
    "reliances": ["bd1", "kh1"],
    "statistics": ["BD", "KH", "unknown"],
}


class TestAProgrammeAdmin:
    async def test_lists_only_its_countrys_factories(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_two_country_programmes(service, upstream)
        cambodia = service.token(Role.ADMIN, subject="kh-admin", countries=["KH"])
        assert await lists_as(service, cambodia) == {
            "grants": ["kh1"],
            "requests": sorted([("kh1", None), (None, KH_OS_ID)], key=str),
            "portfolio": ["kh1"],
            "csv": ["kh1"],
            "reliances": ["kh1"],
            "statistics": ["KH"],
        }

    async def test_reads_of_another_countrys_factory_are_404(
        self, service: Service, upstream: Upstream
    ) -> None:
        requests = await given_two_country_programmes(service, upstream)
        cambodia = service.token(Role.ADMIN, subject="kh-admin", countries=["KH"])
        for factory_id in ("bd1", "ghost"):
            for path in (
                f"/v1/sharing-grants/{factory_id}/brand-a",
                f"/v1/sharing-grants/{factory_id}/brand-a/history",
                f"/v1/buyers/brand-a/factories/{factory_id}",
                f"/v1/buyers/brand-a/factories/{factory_id}/reports",
            ):
                response = await service.client.get(path, headers=cambodia)
                assert response.status_code == 404, (path, response.text)
        for name in ("bd1", "bd os id"):
            response = await service.client.get(
                f"/v1/access-requests/{requests[name]}", headers=cambodia
            )
            assert response.status_code == 404, name
        for path in ("/v1/sharing-grants/kh1/brand-a", "/v1/buyers/brand-a/factories/kh1/reports"):
            assert (await service.client.get(path, headers=cambodia)).status_code == 200, path
        kh_request = await service.client.get(
            f"/v1/access-requests/{requests['kh os id']}", headers=cambodia
        )
        assert kh_request.status_code == 200

    async def test_writes_on_another_countrys_factory_are_404_and_change_nothing(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_two_country_programmes(service, upstream)
        cambodia = service.token(Role.ADMIN, subject="kh-admin", countries=["KH"])
        before = await service.count_events()
        for factory_id in ("bd1", "ghost"):
            granted = await service.client.post(
                "/v1/sharing-grants",
                json={"factory_id": factory_id, "buyer_id": "brand-b"},
                headers=cambodia,
            )
            assert granted.status_code == 404, granted.text
            revoked = await service.client.post(
                f"/v1/sharing-grants/{factory_id}/brand-a/revoke",
                json={"reason": "not yours"},
                headers=cambodia,
            )
            assert revoked.status_code == 404, revoked.text
        assert await service.count_events() == before
        granted = await service.client.post(
            "/v1/sharing-grants",
            json={"factory_id": "kh1", "buyer_id": "brand-b"},
            headers=cambodia,
        )
        assert granted.status_code == 201, granted.text


async def test_the_headquarters_admin_sees_every_country(
    service: Service, upstream: Upstream
) -> None:
    await given_two_country_programmes(service, upstream)
    headquarters = service.token(Role.ADMIN, subject="hq-admin", countries="*")
    assert await lists_as(service, headquarters) == EVERYTHING
    # a development token without the claim is the headquarters' too (refused in production)
    assert await lists_as(service, service.admin) == EVERYTHING
    reports = await service.client.get(
        "/v1/buyers/brand-a/factories/bd1/reports", headers=headquarters
    )
    assert reports.status_code == 200


async def test_a_kh_assessor_reaches_nothing_of_a_bd_factory(
    service: Service, upstream: Upstream
) -> None:
    await given_two_country_programmes(service, upstream)
    before = await service.count_events()
    for role in (Role.ASSESSOR, Role.TRAINER):
        staff = service.token(role, subject="kh-staff", countries=["KH"])
        for method, path, body in (
            ("get", "/v1/sharing-grants", None),
            ("get", "/v1/sharing-grants/bd1/brand-a", None),
            ("get", "/v1/buyers/brand-a/factories/bd1/reports", None),
            ("get", "/v1/access-requests", None),
            ("get", "/v1/audit-reliance", None),
            ("post", "/v1/sharing-grants", {"factory_id": "bd1", "buyer_id": "brand-b"}),
            ("post", "/v1/sharing-grants/bd1/brand-a/revoke", {"reason": "x"}),
        ):
            response = await service.client.request(method, path, json=body, headers=staff)
            assert response.status_code == 403, (role, path, response.status_code)
    assert await service.count_events() == before
