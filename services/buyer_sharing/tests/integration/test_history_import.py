"""A programme's past in buyer sharing (issue 19): the assessment service's imported events of
2001-2005 and the imported buyers, grants and reliance declarations show in transparency, the
yearly rates, the low-compliance list and the reliance statistics in their own years; the grant
periods and the consent a buyer reads follow business time; importing again changes nothing;
bad records, the wrong role and another country's factory import nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from libs.domain.history.bundle import at_noon
from libs.servicekit.auth import Role
from libs.servicekit.service import RebuildContext
from services.buyer_sharing import rebuild
from services.buyer_sharing.tables import audit_reliance, import_record
from services.buyer_sharing.tests.integration.conftest import Service, Upstream, poll
from services.buyer_sharing.tests.integration.history import (
    BUNDLE,
    BUYERS,
    CAMBODIA,
    GRANTS,
    OUTLIER,
    RELIANCES,
    assessment,
    buyer,
    factory,
    import_records,
    import_the_history,
    reliance,
    the_past,
)
from services.buyer_sharing.tests.integration.stream import messages
from services.buyer_sharing.tests.integration.test_portfolio import snapshot


def noon(day: str) -> str:
    return at_noon(datetime.fromisoformat(day).date()).isoformat().replace("+00:00", "Z")


async def ledger_rows(service: Service) -> int:
    async with service.assembled.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(import_record)) or 0)


async def given_the_history(service: Service, upstream: Upstream) -> None:
    await service.feed(the_past(upstream))
    await import_the_history(service)


class TestTransparencyInItsYears:
    async def test_the_newest_report_by_its_date_is_published_whatever_the_arrival(
        self, service: Service, upstream: Upstream
    ) -> None:
        await service.feed(the_past(upstream))
        page = (await service.client.get("/v1/transparency/factories?country=KH")).json()
        by_factory = {entry["factory_id"]: entry for entry in page["items"]}
        assert set(by_factory) == {factory(source_id) for source_id in CAMBODIA}
        first = by_factory[factory("F1")]  # its 2005 report arrived first, its 2001 one last
        assert first["completed_assessments"] == 5
        assert first["report"] == {
            "assessment_id": assessment("F1-2005"),
            "cycle": 5,
            "report_date": "2005-03-01",
        }

    async def test_the_yearly_rates_count_each_year_s_reports(
        self, service: Service, upstream: Upstream
    ) -> None:
        await service.feed(the_past(upstream))
        for year in range(2001, 2006):
            rates = (
                await service.client.get(f"/v1/transparency/rates?year={year}&country=KH")
            ).json()
            (osh,) = rates["clusters"]
            compliant = sum(6 + year - 2001 for _ in CAMBODIA[:-1])
            compliant += {2002: 2, 2005: 4}.get(year, 6 + year - 2001)
            assert (osh["assessments"], osh["answered"]) == (7, 70), year
            assert osh["non_compliant"] == 70 - compliant, year
        empty = (await service.client.get("/v1/transparency/rates?year=2006")).json()
        assert empty["clusters"] == []

    async def test_the_low_compliance_list_needs_three_assessments_by_that_year(
        self, service: Service, upstream: Upstream
    ) -> None:
        await service.feed(the_past(upstream))
        listed = (await service.client.get("/v1/transparency/low-compliance?country=KH")).json()
        # as far below the others in 2002 as in 2005, but with two assessments only by 2002
        assert [(entry["factory_id"], entry["year"]) for entry in listed] == [
            (factory(OUTLIER), 2005)
        ]
        assert listed[0]["assessment_id"] == assessment(f"{OUTLIER}-2005")


class TestImportedConsent:
    async def test_grant_periods_and_declarations_keep_their_days(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_the_history(service, upstream)
        pair = f"/v1/sharing-grants/{factory('F1')}/{buyer('B1')}"
        history = (await service.client.get(f"{pair}/history", headers=service.admin)).json()
        assert [(entry["action"], entry["at"], entry["ends_on"]) for entry in history] == [
            ("granted", noon("2001-07-01"), "2002-12-31"),
            ("granted", noon("2003-03-01"), None),
            ("revoked", noon("2004-06-30"), None),
        ]
        assert history[0]["reason"] == "first buyer of the programme"
        grant = (await service.client.get(pair, headers=service.admin)).json()
        assert (grant["active"], grant["revoked_at"]) == (False, noon("2004-06-30"))
        rows = {
            row["reliance_id"]: row
            for row in (
                await service.client.get("/v1/audit-reliance", headers=service.admin)
            ).json()["items"]
        }
        assert set(rows) == {reliance(source_id) for source_id in ("R1", "R2", "R3")}
        first = rows[reliance("R1")]
        assert (first["declared_at"], first["assessment_id"]) == (
            noon("2002-01-10"),
            assessment("F1-2001"),
        )
        # The revocation of 2004 ends every declaration of the pair still standing, as live: the
        # one of the re-grant's period, and the one of the first period (over by then)
        for ended in (first, rows[reliance("R2")]):
            assert (ended["withdrawn_at"], ended["withdrawal_reason"]) == (
                noon("2004-06-30"),
                "sharing revoked",
            )
        withdrawn = rows[reliance("R3")]
        assert (withdrawn["withdrawn_at"], withdrawn["withdrawal_reason"]) == (
            noon("2003-01-15"),
            "withdrawn",
        )
        buyers = (await service.client.get("/v1/buyers", headers=service.admin)).json()["items"]
        joined = {row["buyer_id"]: row["registered_at"] for row in buyers}
        assert joined[buyer("B1")] == noon("2001-06-01")

    async def test_the_reliance_statistics_show_the_years_they_happened(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_the_history(service, upstream)
        rows = (
            await service.client.get(
                "/v1/audit-reliance/statistics?country=KH", headers=service.admin
            )
        ).json()
        figures = {
            row["year"]: (
                row["buyers_participating"],
                row["buyers_relying"],
                row["factories_covered"],
                row["audits_avoided"],
            )
            for row in rows
        }
        assert {year: figures[year] for year in range(2001, 2006)} == {
            2001: (1, 0, 1, 0),
            2002: (2, 2, 3, 2),
            2003: (2, 2, 3, 2),
            2004: (2, 1, 3, 1),
            2005: (2, 0, 2, 0),
        }
        # a grant without an end counts up to today's year, and no further
        assert max(figures) == service.clock.now.year
        assert figures[service.clock.now.year] == (1, 0, 1, 0)

    async def test_a_buyer_reads_only_what_is_shared_with_it_today(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_the_history(service, upstream)
        b1, b2, b3 = buyer("B1"), buyer("B2"), buyer("B3")
        portfolio = (
            await service.client.get(f"/v1/buyers/{b1}/factories", headers=service.buyer(b1))
        ).json()
        assert [(row["factory_id"], row["shared_since"]) for row in portfolio["items"]] == [
            (factory("F2"), noon("2002-01-15"))
        ]
        shared = await service.client.get(
            f"/v1/buyers/{b1}/factories/{factory('F2')}/reports", headers=service.buyer(b1)
        )
        assert [report["report_date"] for report in shared.json()] == [
            f"{year}-03-01" for year in range(2005, 2000, -1)
        ]
        for buyer_id, factory_id in (
            (b1, factory("F1")),  # revoked in 2004
            (b2, factory("F3")),  # ended in 2006
            (b3, factory("F1")),  # never granted
            (b3, factory("F2")),
        ):
            for path in ("", "/reports"):
                response = await service.client.get(
                    f"/v1/buyers/{buyer_id}/factories/{factory_id}{path}",
                    headers=service.buyer(buyer_id),
                )
                assert response.status_code == 404, (buyer_id, factory_id, path)
        nothing = await service.client.get(f"/v1/buyers/{b3}/factories", headers=service.buyer(b3))
        assert nothing.json()["items"] == []

    async def test_public_events_of_the_past_say_when_they_happened_and_whence(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_the_history(service, upstream)
        started = datetime.now(UTC)

        async def relayed() -> list[Any]:
            found = await messages(service.assembled.runtime.nats, service.settings.subject_prefix)
            granted = [m for m in found if m.event_name == "SharingGranted"]
            return granted if len(granted) == len(GRANTS) else []

        granted = await poll(relayed)
        first = next(m.document for m in granted if m.document["time"].startswith("2001-07-01"))
        assert first["importedfrom"] == BUNDLE
        assert first["data"]["granted_at"].startswith("2001-07-01T12:00:00")
        recorded = datetime.fromisoformat(first["recordedtime"])
        assert abs((recorded - started).total_seconds()) < 120


class TestImportingAgain:
    async def test_the_same_records_again_change_nothing(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_the_history(service, upstream)
        events, ledger = await service.count_events(), await ledger_rows(service)
        assert ledger == len(BUYERS) + len(GRANTS) + len(RELIANCES)
        for kind, records in (("buyers", BUYERS), ("grants", GRANTS), ("reliances", RELIANCES)):
            again = await import_records(service, kind, records)
            assert again.status_code == 200, again.text
            assert {key: again.json()[key] for key in ("imported", "unchanged", "events")} == {
                "imported": 0,
                "unchanged": len(records),
                "events": 0,
            }
        assert (await service.count_events(), await ledger_rows(service)) == (events, ledger)

    async def test_a_later_period_of_a_pair_comes_in_a_later_request(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_the_history(service, upstream)
        later = {"source_id": "G5", "buyer": "B1", "factory": "F1", "granted_on": "2005-01-10"}
        response = await import_records(service, "grants", [later])
        assert response.status_code == 200, response.text
        assert response.json()["events"] == 1
        earlier = {"source_id": "G0", "buyer": "B1", "factory": "F1", "granted_on": "2004-01-10"}
        refused = await import_records(service, "grants", [earlier])
        assert refused.status_code == 422
        (error,) = refused.json()["errors"]
        assert error["field"] == "granted_on" and "order of their days" in error["reason"]


def fields(response: Any) -> list[tuple[int, str, str]]:
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("import-rejected")
    return [(e["line"], e["source_id"], e["field"]) for e in response.json()["errors"]]


class TestBadRecordsImportNothing:
    async def test_bad_grants(self, service: Service, upstream: Upstream) -> None:
        await given_the_history(service, upstream)
        events, ledger = await service.count_events(), await ledger_rows(service)
        good = {"source_id": "G5", "buyer": "B2", "factory": "F4", "granted_on": "2003-01-01"}
        response = await import_records(
            service,
            "grants",
            [
                good,
                {**good, "source_id": "G6", "factory": "F-unknown"},
                {**good, "source_id": "G7", "ends_on": "2002-12-31"},  # ends before it starts
                {**good, "source_id": "G8", "buyer": "B1", "factory": "F2"},  # G3 in force
                {**good, "source_id": "G9", "buyer": "B-unknown"},
                {**good, "source_id": "G10", "buyer": "B3", "granted_on": "2002-06-01"},
                {**good, "source_id": "G11", "granted_on": "2999-01-01"},
            ],
        )
        assert fields(response) == [
            (2, "G6", "factory"),
            (3, "G7", "record"),
            (4, "G8", "granted_on"),
            (5, "G9", "buyer"),
            (6, "G10", "granted_on"),  # before the buyer joined
            (7, "G11", "granted_on"),  # in the future
        ]
        assert (await service.count_events(), await ledger_rows(service)) == (events, ledger)
        assert (await import_records(service, "grants", [good])).status_code == 200

    async def test_bad_reliances(self, service: Service, upstream: Upstream) -> None:
        await given_the_history(service, upstream)
        events, ledger = await service.count_events(), await ledger_rows(service)
        good = {
            "source_id": "R4",
            "buyer": "B1",
            "factory": "F2",
            "assessment": "F2-2003",
            "declared_on": "2003-06-01",
            "period_start": "2003-06-01",
            "period_end": "2004-05-31",
        }
        response = await import_records(
            service,
            "reliances",
            [
                good,
                {**good, "source_id": "R5", "assessment": "A-unknown"},
                {**good, "source_id": "R6", "period_end": "2005-12-31"},  # 944 days
                {**good, "source_id": "R7", "period_end": "2003-05-31"},  # ends before it starts
                {**good, "source_id": "R8", "factory": "F4"},  # nothing shared with B1
                {**good, "source_id": "R9", "assessment": "F3-2003"},  # another factory's
                {**good, "source_id": "R10", "assessment": "F2-2004"},  # reported afterwards
                {
                    **good,
                    "source_id": "R11",
                    "buyer": "B2",
                    "factory": "F3",
                    "declared_on": "2007-01-02",
                },
            ],
        )
        assert fields(response) == [
            (2, "R5", "assessment"),
            (3, "R6", "period_end"),
            (4, "R7", "record"),
            (5, "R8", "declared_on"),
            (6, "R9", "assessment"),
            (7, "R10", "assessment"),
            (8, "R11", "declared_on"),  # after the grant's end date
        ]
        async with service.assembled.engine.connect() as connection:
            declared = await connection.scalar(select(func.count()).select_from(audit_reliance))
        assert declared == len(RELIANCES)
        assert (await service.count_events(), await ledger_rows(service)) == (events, ledger)


class TestWhoImports:
    async def test_only_admins_import(self, service: Service, upstream: Upstream) -> None:
        await service.feed(the_past(upstream))
        for headers in (
            service.factory(factory("F1")),
            service.buyer(buyer("B1")),
            service.token(Role.ASSESSOR, subject="assessor-1"),
        ):
            response = await import_records(service, "buyers", BUYERS, headers=headers)
            assert response.status_code == 403, response.text
        anonymous = await import_records(service, "buyers", BUYERS, headers={})
        assert anonymous.status_code == 401
        assert await service.count_events() == 0

    async def test_an_admin_imports_its_own_country_s_grants_only(
        self, service: Service, upstream: Upstream
    ) -> None:
        await service.feed(the_past(upstream))
        vietnam = service.token(Role.ADMIN, subject="admin-vn", countries=["VN"])
        assert (await import_records(service, "buyers", BUYERS, headers=vietnam)).status_code == 200
        events = await service.count_events()
        cambodian = await import_records(service, "grants", GRANTS[2:3], headers=vietnam)
        unknown = await import_records(
            service, "grants", [{**GRANTS[2], "factory": "F-unknown"}], headers=vietnam
        )
        # another country's factory is refused exactly as one that does not exist
        assert [e["reason"] for e in cambodian.json()["errors"]] == ["factory F2 is not known here"]
        assert [e["reason"] for e in unknown.json()["errors"]] == [
            "factory F-unknown is not known here"
        ]
        assert fields(cambodian) == [(1, "G3", "factory")]
        assert fields(unknown) == [(1, "G3", "factory")]
        assert await service.count_events() == events
        own = {"source_id": "GV", "buyer": "B1", "factory": "V1", "granted_on": "2002-01-15"}
        assert (await import_records(service, "grants", [own], headers=vietnam)).status_code == 200


class TestRebuild:
    async def test_the_rebuild_gives_the_imported_read_models_row_by_row(
        self, service: Service, upstream: Upstream
    ) -> None:
        past = the_past(upstream)
        await service.publish(past)

        async def consumed() -> bool:
            tables = await snapshot(service)
            return len(tables["report"]) == 40 and len(tables["factory_summary"]) == 8

        await poll(consumed)
        await import_the_history(service)
        live = await snapshot(service)
        assembled = service.assembled
        report = await rebuild.rebuild(
            RebuildContext(
                service.settings, assembled.engine, assembled.registry, lambda *_progress: None
            )
        )
        assert await snapshot(service) == live
        assert report.upstream_events["assessment"] == len(past)
        assert report.own_events == await service.count_events()
        assert await ledger_rows(service) == len(BUYERS) + len(GRANTS) + len(RELIANCES)
