"""The programme's results table, pure (no I/O): the years it spans, zeros for a year without a
fact, rates rounded as Python rounds, cumulative sums and distinct counts, computed by hand from
per-year facts; its CSV and its SVG chart (well-formed, every text escaped); the projection's
facts from upstream events. Who counts on which day (grants, reliances, the workforce in force)
is decided in SQL: tests/integration/test_programme_results.py."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.buyer_sharing import upstream
from services.buyer_sharing.api.results import csv_document
from services.buyer_sharing.api.results_chart import axis_ticks, chart
from services.buyer_sharing.domain.results import (
    Ever,
    Figures,
    ProgrammeFacts,
    Workers,
    YearFacts,
    rate,
    results_table,
)
from services.buyer_sharing.projections.results import ResultsRows

TODAY = date(2024, 12, 31)
SVG = "{http://www.w3.org/2000/svg}"


def small_programme() -> ProgrammeFacts:
    """2021 (a grant only), nothing in 2022, then 2023 and 2024; facts of 2025, after today's
    year, that must not count."""
    return ProgrammeFacts(
        years={
            2021: YearFacts(buyers_participating=1),
            2023: YearFacts(
                assessments=3,
                factories=2,
                women=130,
                men=60,
                buyers_participating=2,
                buyers_relying=1,
                training_participants=12,
                training_completions=9,
                advisory_days=Decimal("1.5"),
                non_compliant={"WT": 2, "OSH": 1},
            ),
            2024: YearFacts(
                assessments=2,
                factories=1,
                women=120,
                men=60,
                buyers_participating=1,
                training_participants=5,
                training_completions=5,
                non_compliant={"OSH": 0},
            ),
            2025: YearFacts(
                assessments=1, factories=1, advisory_days=Decimal(9), non_compliant={"CHL": 1}
            ),
        },
        ever=Ever(factories=2, women=150, men=70, buyers_participating=2, buyers_relying=1),
    )


class TestTheTable:
    def test_of_a_small_programme_computed_by_hand(self) -> None:
        table = results_table("KH", small_programme(), TODAY)

        assert table is not None
        assert (table.first_year, table.last_year) == (2021, 2024)
        assert table.years[2021] == Figures(buyers_participating=1)
        assert table.years[2022] == Figures()  # no fact: zeros
        assert table.years[2023] == Figures(
            assessments_completed=3,
            factories_assessed=2,
            workers=Workers(130, 60),
            buyers_participating=2,
            buyers_relying=1,
            training_participants=12,
            training_completions=9,
            advisory_days=Decimal("1.5"),
            non_compliance_rate={"OSH": 0.3333, "WT": 0.6667},
        )
        assert table.years[2024] == Figures(
            assessments_completed=2,
            factories_assessed=1,
            workers=Workers(120, 60),
            buyers_participating=1,
            training_participants=5,
            training_completions=5,
            non_compliance_rate={"OSH": 0.0},
        )
        assert table.cumulative == Figures(
            assessments_completed=5,
            factories_assessed=2,
            workers=Workers(150, 70),
            buyers_participating=2,
            buyers_relying=1,
            training_participants=17,
            training_completions=14,
            advisory_days=Decimal("1.5"),
            non_compliance_rate={"OSH": 0.2, "WT": 0.4},
        )

    def test_as_json_lists_every_year_and_the_cumulative_row(self) -> None:
        table = results_table("KH", small_programme(), TODAY)
        assert table is not None

        document = table.as_json()

        assert [row["year"] for row in document["years"]] == [2021, 2022, 2023, 2024]
        assert document["years"][2] == {
            "year": 2023,
            "assessments_completed": 3,
            "factories_assessed": 2,
            "workers": {"women": 130, "men": 60, "total": 190},
            "buyers_participating": 2,
            "buyers_relying": 1,
            "training_participants": 12,
            "training_completions": 9,
            "advisory_days": 1.5,
            "non_compliance_rate": {"OSH": 0.3333, "WT": 0.6667},
        }
        assert list(document["years"][2]["non_compliance_rate"]) == ["OSH", "WT"]  # sorted
        assert "year" not in document["cumulative"]
        assert (document["country"], document["first_year"], document["last_year"]) == (
            "KH",
            2021,
            2024,
        )

    def test_a_later_today_shows_the_later_years(self) -> None:
        table = results_table("KH", small_programme(), date(2025, 6, 1))

        assert table is not None
        assert table.last_year == 2025
        assert table.years[2025].assessments_completed == 1
        assert table.cumulative.advisory_days == Decimal("10.5")
        assert table.cumulative.non_compliance_rate == {"CHL": 0.1667, "OSH": 0.1667, "WT": 0.3333}

    def test_is_none_without_any_fact_up_to_today(self) -> None:
        assert results_table("ZZ", ProgrammeFacts(), TODAY) is None
        later = ProgrammeFacts(years={2025: YearFacts(assessments=1, factories=1)})
        assert results_table("KH", later, TODAY) is None

    @pytest.mark.parametrize(
        ("count", "assessments"), [(1, 3), (2, 3), (1, 32), (1, 7), (3, 8), (0, 5), (5, 5)]
    )
    def test_rates_are_pythons_round_of_the_quotient_to_four_decimals(
        self, count: int, assessments: int
    ) -> None:
        assert rate(count, assessments) == round(count / assessments, 4)

    def test_a_rate_of_no_assessment_is_zero(self) -> None:
        assert rate(0, 0) == 0.0


@dataclass(frozen=True)
class Meta:
    id: str
    time: datetime
    streamversion: int


class TestTheProjectionsFacts:
    def test_a_registration_and_an_update_are_in_force_from_their_business_day(self) -> None:
        rows = ResultsRows()
        registered = upstream.FactoryRegistered(
            factory_id="f1",
            name="F1",
            country="KH",
            workforce=upstream.Workforce(women=8, men=2),
        )
        updated = upstream.FactoryUpdated(
            factory_id="f1", name="F1", country="KH", workforce=upstream.Workforce(women=9, men=3)
        )
        # 05:30 on 2 January in UTC+7 is still 1 January in UTC: the UTC day counts
        rows.add(Meta("e1", datetime(2022, 1, 10, 12, tzinfo=UTC), 1), registered)
        rows.add(Meta("e2", datetime.fromisoformat("2023-01-02T05:30:00+07:00"), 2), updated)
        rows.add(Meta("e2", datetime.fromisoformat("2023-01-02T05:30:00+07:00"), 2), updated)

        assert rows.workforce == {
            ("f1", 1): ("f1", 1, date(2022, 1, 10), 8, 2),
            ("f1", 2): ("f1", 2, date(2023, 1, 1), 9, 3),
        }
        assert rows.factories == {"f1"}

    def test_a_factory_event_without_a_workforce_gives_no_fact(self) -> None:
        rows = ResultsRows()
        event = upstream.FactoryRegistered(factory_id="f1", name="F1", country="KH")

        rows.add(Meta("e1", datetime(2022, 1, 10, tzinfo=UTC), 1), event)

        assert rows.workforce == {}
        assert rows.factories == {"f1"}  # its country may have changed

    def test_completions_and_corrections_name_the_assessments_and_factories_to_recompute(
        self,
    ) -> None:
        rows = ResultsRows()
        corrected = upstream.FindingCorrected(
            assessment_id="a1",
            factory_id="f1",
            question_id="OSH-EMG-01",
            result_before="compliant",
            result_after="non_compliant",
        )

        rows.add(Meta("e1", datetime(2023, 5, 1, tzinfo=UTC), 7), corrected)

        assert (rows.assessments, rows.factories) == ({"a1"}, {"f1"})


def parse_svg(document: str) -> ET.Element:
    """The chart this service wrote (no entity, no external reference: the stdlib parser is
    safe for it; a defect that made it ill-formed fails the parse)."""
    return ET.fromstring(document)  # noqa: S314


class TestTheDocuments:
    def test_the_csv_has_a_header_a_row_per_year_and_the_cumulative_row(self) -> None:
        table = results_table("KH", small_programme(), TODAY)
        assert table is not None

        rows = list(csv.reader(io.StringIO(csv_document(table))))

        assert rows[0] == [
            "year",
            "assessments_completed",
            "factories_assessed",
            "workers_women",
            "workers_men",
            "workers_total",
            "buyers_participating",
            "buyers_relying",
            "training_participants",
            "training_completions",
            "advisory_days",
            "nc_rate_OSH",
            "nc_rate_WT",
        ]
        assert [row[0] for row in rows[1:]] == ["2021", "2022", "2023", "2024", "cumulative"]
        assert rows[3] == [
            *("2023", "3", "2", "130", "60", "190", "2", "1", "12", "9", "1.5"),
            *("0.3333", "0.6667"),
        ]
        assert rows[4][-2:] == ["0.0", ""]  # WT not answered in 2024
        assert rows[5][1] == "5"

    def test_the_chart_is_well_formed_svg_with_a_bar_per_year_and_two_lines(self) -> None:
        table = results_table("KH", small_programme(), TODAY)
        assert table is not None

        root = parse_svg(chart(table))

        assert root.tag == f"{SVG}svg"
        bars = [rect for rect in root.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]
        assert len(bars) == 4
        assert len(root.findall(f"{SVG}polyline")) == 2
        texts = [text.text for text in root.iter(f"{SVG}text")]
        for label in ("Assessments completed", "Buyers participating", "Buyers relying"):
            assert label in texts
        assert {"2021", "2022", "2023", "2024"} <= set(texts)

    def test_the_chart_escapes_its_texts(self) -> None:
        table = results_table("<&'\">", small_programme(), TODAY)
        assert table is not None

        root = parse_svg(chart(table))

        title = root.find(f"{SVG}title")
        assert title is not None
        assert title.text is not None
        assert "<&'\">" in title.text

    def test_a_single_year_of_zeros_still_draws(self) -> None:
        only = ProgrammeFacts(years={2024: YearFacts(buyers_participating=1)})
        table = results_table("KH", only, TODAY)
        assert table is not None

        root = parse_svg(chart(table))

        assert root.tag == f"{SVG}svg"

    @pytest.mark.parametrize(
        ("maximum", "ticks"),
        [
            (0, [0, 1]),
            (1, [0, 1]),
            (7, [0, 2, 4, 6, 8]),
            (37, [0, 10, 20, 30, 40]),
            (250, [0, 50, 100, 150, 200, 250]),
            (251, [0, 100, 200, 300]),
            (2**31, None),
        ],
    )
    def test_axis_ticks_are_round_and_reach_the_maximum(
        self, maximum: int, ticks: list[int] | None
    ) -> None:
        found = axis_ticks(maximum)

        if ticks is not None:
            assert found == ticks
        assert found[0] == 0 and found[-1] >= maximum and len(found) <= 6
