"""Issue 19: the programme's results per country and year (public), on real PostgreSQL and NATS.
A small Cambodian programme over 2022-2024 (results_programme.py), imported as the upstream
services publish an imported history (past business times, `importedfrom`), with grants and
reliance declarations made through the API at past dates, and a Bangladeshi factory that must not
count: the table computed by hand here; a correction changes the non-compliance rate; a
revocation stops counting the day before; a withdrawn reliance; the workforce in force on the
report date; CSV and SVG; ETag and 304; rebuild and redelivery; a bad country 422, an unknown one
404."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import date
from typing import Any

import pytest

from libs.servicekit.service import RebuildContext
from services.buyer_sharing import rebuild
from services.buyer_sharing.api import results as results_api
from services.buyer_sharing.queries.results import programme_facts
from services.buyer_sharing.tests.integration.advisory_events import Advisory
from services.buyer_sharing.tests.integration.conftest import Service, Upstream, poll
from services.buyer_sharing.tests.integration.results_programme import (
    OK,
    RESULTS,
    assessment,
    correction,
    declare,
    factory,
    given_the_programme,
    imported,
    ok,
    on,
    upstream_history,
    workforce_update,
)

SVG = "{http://www.w3.org/2000/svg}"


def year(
    number: int,
    assessments: int,
    factories: int,
    workers: tuple[int, int],
    participating: int,
    relying: int,
    training: tuple[int, int],
    days: float,
    rates: dict[str, float],
) -> dict[str, Any]:
    women, men = workers
    return {
        "year": number,
        "assessments_completed": assessments,
        "factories_assessed": factories,
        "workers": {"women": women, "men": men, "total": women + men},
        "buyers_participating": participating,
        "buyers_relying": relying,
        "training_participants": training[0],
        "training_completions": training[1],
        "advisory_days": days,
        "non_compliance_rate": rates,
    }


# By hand. 2022: a1 (f1 at 800/200) and a2 (f2 at 300/100); brand-a and brand-b (revoked on
# 1 January 2023, so not in 2023) participate, brand-a relies; s1; v1.
# 2023: a3 (f1 on 15 March: the update of 1 January, 900/300, not that of 1 September), a4 (f2),
# a5 (f3 at 50/50); brand-a and brand-c participate and rely; s2 (s3 ends in 2024); v2 and v3.
# 2024: a6 and a7 (f1 once, on 1 August at 1000/400); brand-a participates (its grant runs on),
# nobody relies; s3; v4. Bangladesh's f9, brand-d, s9 and v9 count nowhere.
KH_2022 = year(2022, 2, 2, (1100, 300), 2, 1, (10, 8), 1.0, {"OSH": 0.5, "WT": 0.5})
KH_2023 = year(2023, 3, 3, (1250, 450), 2, 2, (15, 15), 2.0, {"CHL": 0.0, "OSH": 0.6667, "WT": 0.0})
KH_2024 = year(2024, 2, 1, (1000, 400), 1, 0, (8, 6), 2.5, {"OSH": 0.5, "WT": 0.0})
CUMULATIVE = year(
    0, 7, 3, (1350, 550), 3, 2, (33, 29), 5.5, {"CHL": 0.0, "OSH": 0.5714, "WT": 0.1429}
)
del CUMULATIVE["year"]


class TestTheTable:
    async def test_of_a_small_programme_is_the_one_computed_by_hand(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_the_programme(service, upstream)

        response = await service.client.get(RESULTS, params={"country": "kh"})

        assert response.headers["cache-control"] == "public, max-age=300"
        assert await ok(response) == {
            "country": "KH",
            "first_year": 2022,
            "last_year": 2024,
            "years": [KH_2022, KH_2023, KH_2024],
            "cumulative": CUMULATIVE,
        }

    async def test_needs_no_token_and_another_country_has_its_own(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_the_programme(service, upstream)

        bangladesh = await ok(await service.client.get(RESULTS, params={"country": "BD"}))

        assert (bangladesh["first_year"], bangladesh["last_year"]) == (2022, 2024)
        assert [entry["assessments_completed"] for entry in bangladesh["years"]] == [0, 1, 0]
        expected = year(0, 1, 1, (5000, 5000), 1, 1, (20, 20), 3.0, {"OSH": 1.0})
        del expected["year"]
        assert bangladesh["cumulative"] == expected

    async def test_a_correction_changes_the_non_compliance_rate(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_the_programme(service, upstream)
        before = await ok(await service.client.get(RESULTS, params={"country": "KH"}))

        # a4's overtime finding corrected on 1 May 2023: WT non-compliant in one of 2023's three
        await service.feed([correction(upstream, "f2", "a4", date(2023, 5, 1))])
        after = await ok(await service.client.get(RESULTS, params={"country": "KH"}))

        assert before["years"][1]["non_compliance_rate"]["WT"] == 0.0
        assert after["years"][1]["non_compliance_rate"] == {"CHL": 0.0, "OSH": 0.6667, "WT": 0.3333}
        assert after["cumulative"]["non_compliance_rate"]["WT"] == 0.2857  # 2 of 7
        assert after["years"][1]["assessments_completed"] == 3

    async def test_a_revocation_stops_counting_the_day_before(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_the_programme(service, upstream)
        before = await ok(await service.client.get(RESULTS, params={"country": "KH"}))
        # brand-b's grant revoked on 1 January 2023 already counts in 2022 only; brand-a's revoked
        # on 1 January 2024 counts no day of 2024; brand-b's new grant of that day, revoked the
        # same day, counts no day at all
        on(service, date(2024, 1, 1))
        for factory_id, buyer_id in (("f1", "brand-a"), ("f2", "brand-b")):
            if buyer_id == "brand-b":
                await ok(await service.grant(factory_id, buyer_id), 201)
            revoked = await service.client.post(
                f"/v1/sharing-grants/{factory_id}/{buyer_id}/revoke",
                json={"reason": "contract ended"},
                headers=service.factory(factory_id),
            )
            await ok(revoked)
        on(service, date(2024, 12, 31))

        table = await ok(await service.client.get(RESULTS, params={"country": "KH"}))

        assert [entry["buyers_participating"] for entry in before["years"]] == [2, 2, 1]
        assert [entry["buyers_participating"] for entry in table["years"]] == [2, 2, 0]
        assert table["cumulative"]["buyers_participating"] == 3
        assert table["last_year"] == 2024  # its assessments are still there

    async def test_a_withdrawn_reliance_stops_counting_the_day_before(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_the_programme(service, upstream)
        before = await ok(await service.client.get(RESULTS, params={"country": "KH"}))
        reliance_id = await declare(
            service, "brand-a", "f1", "a6", date(2024, 3, 1), date(2025, 2, 28)
        )
        on(service, date(2024, 12, 31))
        declared = await ok(await service.client.get(RESULTS, params={"country": "KH"}))

        on(service, date(2024, 3, 1))
        withdrawn = await service.client.post(
            f"/v1/audit-reliance/{reliance_id}/withdraw",
            json={"reason": "own audit after all"},
            headers=service.buyer("brand-a"),
        )
        await ok(withdrawn)
        on(service, date(2024, 12, 31))
        after = await ok(await service.client.get(RESULTS, params={"country": "KH"}))

        assert before["years"][2]["buyers_relying"] == 0
        assert declared["years"][2]["buyers_relying"] == 1
        # withdrawn on the day its period started: in force on no day at all
        assert after["years"][2]["buyers_relying"] == 0
        assert after["years"][0]["buyers_relying"] == 1  # the earlier declaration still counts

    async def test_counts_the_workforce_in_force_on_the_report_date(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_the_programme(service, upstream)
        before = await ok(await service.client.get(RESULTS, params={"country": "KH"}))
        # f3's workforce of 2024 comes on 1 January 2024: its report of November 2023 keeps 50/50
        later = imported(workforce_update(upstream, "f3", "KH", 70, 80), date(2024, 1, 1))
        # f4, registered on 1 June 2024 after its report of March: no workforce in force then
        f4 = imported(factory(upstream, "f4", "KH", 10, 20), date(2024, 6, 1))
        report = assessment(upstream, "f4", "a8", 1, date(2024, 3, 1), {"OSH-EMG-01": OK})
        await service.feed([later, *report, f4])

        table = await ok(await service.client.get(RESULTS, params={"country": "KH"}))

        assert before["years"][2]["workers"] == {"women": 1000, "men": 400, "total": 1400}
        assert table["years"][1]["workers"] == {"women": 1250, "men": 450, "total": 1700}
        assert table["years"][2]["workers"] == {"women": 1000, "men": 400, "total": 1400}
        assert table["years"][2]["factories_assessed"] == 2
        assert table["cumulative"]["workers"] == {"women": 1350, "men": 550, "total": 1900}
        assert table["cumulative"]["factories_assessed"] == 4

    async def test_a_rebuild_gives_the_same_table_and_redelivery_changes_nothing(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_the_programme(service, upstream)
        # on NATS, where the rebuild reads it again
        await service.publish([correction(upstream, "f2", "a4", date(2023, 5, 1))])

        async def corrected() -> dict[str, Any] | None:
            table = await ok(await service.client.get(RESULTS, params={"country": "KH"}))
            return table if table["years"][1]["non_compliance_rate"]["WT"] > 0 else None

        live = await poll(corrected)

        # the whole upstream history once more (JetStream de-duplicates by id: through the
        # handlers, as a redelivery after a lost acknowledgement would come)
        await service.feed(upstream_history(Upstream()))
        again = await ok(await service.client.get(RESULTS, params={"country": "KH"}))
        assembled = service.assembled
        await rebuild.rebuild(
            RebuildContext(
                service.settings, assembled.engine, assembled.registry, lambda *_progress: None
            )
        )
        rebuilt = await ok(await service.client.get(RESULTS, params={"country": "KH"}))

        assert live["years"][1]["non_compliance_rate"]["WT"] == 0.3333
        assert again == live
        assert rebuilt == live


class TestTheDocuments:
    async def test_the_csv_has_a_header_a_row_per_year_and_the_cumulative_row(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_the_programme(service, upstream)

        response = await service.client.get(f"{RESULTS}.csv", params={"country": "KH"})

        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["cache-control"] == "public, max-age=300"
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [row["year"] for row in rows] == ["2022", "2023", "2024", "cumulative"]
        assert list(rows[0])[-3:] == ["nc_rate_CHL", "nc_rate_OSH", "nc_rate_WT"]
        assert rows[1]["workers_total"] == "1700"
        assert rows[0]["nc_rate_CHL"] == ""  # not answered in 2022
        assert rows[3]["nc_rate_OSH"] == "0.5714"
        assert rows[3]["advisory_days"] == "5.5"

    async def test_the_svg_is_a_well_formed_chart(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_the_programme(service, upstream)

        response = await service.client.get(f"{RESULTS}.svg", params={"country": "KH"})

        assert response.status_code == 200
        assert response.headers["content-type"] == "image/svg+xml"
        root = ET.fromstring(response.content)  # noqa: S314 (our own document)
        assert root.tag == f"{SVG}svg"
        bars = [rect for rect in root.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]
        assert len(bars) == 3
        assert len(root.findall(f"{SVG}polyline")) == 2

    async def test_each_has_a_strong_etag_and_304_when_the_client_has_it(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_the_programme(service, upstream)
        tags = set()
        for path in (RESULTS, f"{RESULTS}.csv", f"{RESULTS}.svg"):
            first = await service.client.get(path, params={"country": "KH"})
            etag = first.headers["etag"]
            again = await service.client.get(
                path, params={"country": "KH"}, headers={"If-None-Match": etag}
            )
            other = await service.client.get(
                path, params={"country": "KH"}, headers={"If-None-Match": '"stale"'}
            )
            assert not etag.startswith("W/")
            assert (again.status_code, again.content) == (304, b"")
            assert again.headers["etag"] == etag
            assert again.headers["cache-control"] == "public, max-age=300"
            assert (other.status_code, other.content) == (200, first.content)
            tags.add(etag)
        assert len(tags) == 3

    async def test_a_new_fact_changes_the_etag(self, service: Service, upstream: Upstream) -> None:
        await given_the_programme(service, upstream)
        first = await service.client.get(RESULTS, params={"country": "KH"})

        await service.feed([Advisory().visit("v5", "f1", date(2024, 6, 3), 0.5)])
        second = await service.client.get(
            RESULTS, params={"country": "KH"}, headers={"If-None-Match": first.headers["etag"]}
        )

        assert second.status_code == 200
        assert second.json()["years"][2]["advisory_days"] == 3.0

    async def test_an_answer_is_made_once_per_state_of_the_facts(
        self, service: Service, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await given_the_programme(service, upstream)
        made: list[str] = []
        original = programme_facts

        async def counted(connection: Any, country: str, today: date) -> Any:
            made.append(country)
            return await original(connection, country, today)

        monkeypatch.setattr(results_api, "programme_facts", counted)
        for _ in range(3):
            await ok(await service.client.get(RESULTS, params={"country": "KH"}))
        kept = len(made)
        await ok(await service.grant("f3", "brand-d"), 201)  # a new grant: made again
        after = await ok(await service.client.get(RESULTS, params={"country": "KH"}))

        assert (kept, len(made)) == (1, 2)
        assert after["years"][2]["buyers_participating"] == 2


class TestBadInput:
    async def test_a_malformed_or_missing_country_is_a_422_problem(self, service: Service) -> None:
        for params in ({"country": "KHM"}, {"country": "K1"}, {"country": ""}, {}):
            for path in (RESULTS, f"{RESULTS}.csv", f"{RESULTS}.svg"):
                response = await service.client.get(path, params=params)
                assert response.status_code == 422, (path, params)
                assert response.headers["content-type"] == "application/problem+json"

    async def test_a_country_with_no_fact_is_a_404_problem(
        self, service: Service, upstream: Upstream
    ) -> None:
        await given_the_programme(service, upstream)

        response = await service.client.get(RESULTS, params={"country": "VN"})

        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("programme-not-found")
