"""`tools.history expected` on a tiny hand-written bundle gives the figures computed by hand:
corrections, a revocation and a withdrawal that stop counting the day before, a grant and a
reliance never in force, the workforce in force on the report date, another country's records
left out, a year without any fact inside the range."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from libs.domain.history.advisory import AdvisoryVisitRecord, TrainingSessionRecord
from libs.domain.history.assessment import AssessmentRecord, FactoryRecord
from libs.domain.history.buyer_sharing import BuyerRecord, GrantRecord, RelianceRecord
from tools.history.__main__ import main
from tools.history.expected import BundleError, NoFacts, render, results
from tools.history.writer import BundleWriter

TODAY = date(2026, 12, 8)


def factory(source_id: str, country: str, registered_on: str, *years: tuple[int, int, int]) -> Any:
    return FactoryRecord.model_validate(
        {
            "source_id": source_id,
            "name": f"Factory {source_id}",
            "country": country,
            "address": "Lot 1, Phnom Penh",
            "registered_on": registered_on,
            "workforce": [{"year": y, "women": w, "men": m} for y, w, m in years],
        }
    )


def assessment(
    source_id: str,
    factory_id: str,
    cycle: int,
    report_date: str,
    findings: dict[str, bool],
    corrections: dict[str, bool] | None = None,
) -> Any:
    return AssessmentRecord.model_validate(
        {
            "source_id": source_id,
            "factory": factory_id,
            "cycle": cycle,
            "assessed_on": report_date,
            "report_date": report_date,
            "findings": [
                {"question_id": q, "compliant": ok, "evidence": "" if ok else "seen"}
                for q, ok in findings.items()
            ],
            "corrections": [
                {"question_id": q, "corrected_on": report_date, "compliant": ok, "reason": "r"}
                for q, ok in (corrections or {}).items()
            ],
        }
    )


def buyer(source_id: str) -> Any:
    return BuyerRecord.model_validate(
        {
            "source_id": source_id,
            "name": source_id,
            "country": "SE",
            "contact_name": "A",
            "contact_email": "a@b.example",
            "joined_on": "2003-01-01",
        }
    )


def grant(source_id: str, buyer_id: str, factory_id: str, granted_on: str, **more: str) -> Any:
    return GrantRecord.model_validate(
        {
            "source_id": source_id,
            "buyer": buyer_id,
            "factory": factory_id,
            "granted_on": granted_on,
            **more,
        }
    )


def reliance(
    source_id: str, buyer_id: str, factory_id: str, on: str, start: str, end: str, **more: str
) -> Any:
    return RelianceRecord.model_validate(
        {
            "source_id": source_id,
            "buyer": buyer_id,
            "factory": factory_id,
            "assessment": "A1",
            "declared_on": on,
            "period_start": start,
            "period_end": end,
            **more,
        }
    )


def session(source_id: str, course: str, end: str, attendees: list[tuple[str, int]]) -> Any:
    factories = list(dict.fromkeys(factory_id for factory_id, _ in attendees))
    return TrainingSessionRecord.model_validate(
        {
            "source_id": source_id,
            "course_code": course,
            "factories": factories,
            "start_date": end,
            "end_date": end,
            "attendees": [
                {"factory": f, "role": "worker", "gender": "female", "days_attended": days}
                for f, days in attendees
            ],
        }
    )


def visit(source_id: str, factory_id: str, on: str, days: float) -> Any:
    return AdvisoryVisitRecord.model_validate(
        {
            "source_id": source_id,
            "factory": factory_id,
            "visited_on": on,
            "duration_days": days,
            "purpose": "other",
        }
    )


BUNDLE: dict[str, list[Any]] = {
    "factories": [
        factory("F1", "KH", "2003-03-01", (2003, 80, 20), (2004, 90, 30), (2005, 100, 40)),
        factory("F2", "KH", "2003-06-01", (2003, 40, 10), (2005, 60, 20)),
        factory("F3", "BD", "2003-01-10", (2003, 500, 500)),
    ],
    "assessments": [
        # 2003: OSH found; WT found, then corrected to compliant
        assessment(
            "A1",
            "F1",
            1,
            "2003-05-10",
            {"OSH-MGT-01": False, "WT-REG-01": False, "CHL-CHI-01": True},
            {"WT-REG-01": True},
        ),
        # 2003: forced labour compliant, then corrected to a non-compliance
        assessment(
            "A2",
            "F2",
            1,
            "2003-09-10",
            {"OSH-MGT-01": True, "FOR-BON-01": True},
            {"FOR-BON-01": False},
        ),
        assessment("A3", "F1", 2, "2004-02-01", {"OSH-MGT-01": False}),
        assessment("A4", "F1", 3, "2004-11-20", {"OSH-MGT-01": True, "WT-REG-01": False}),
        # 2005-01-15: F2's workforce of 2005 is in force (from 1 January), not 2003's
        assessment("A6", "F2", 2, "2005-01-15", {"DIS-ROR-01": False}),
        assessment("A5", "F3", 1, "2004-03-01", {"OSH-MGT-01": False}),  # Bangladesh
    ],
    "buyers": [buyer("B1"), buyer("B2"), buyer("B3")],
    "grants": [
        grant("G1", "B1", "F1", "2003-04-01", ends_on="2005-12-31"),
        # revoked on 1 January 2004: in force through 31 December 2003
        grant("G2", "B2", "F2", "2003-07-01", revoked_on="2004-01-01"),
        grant("G3", "B3", "F3", "2003-02-01"),  # Bangladesh
        grant("G4", "B3", "F1", "2004-05-01", revoked_on="2004-05-01"),  # never in force
    ],
    "reliances": [
        reliance("R1", "B1", "F1", "2003-06-01", "2003-06-01", "2004-05-31"),
        # withdrawn on the day it starts: never in force
        reliance(
            "R2", "B1", "F1", "2004-03-01", "2004-03-01", "2005-02-28", withdrawn_on="2004-03-01"
        ),
        # withdrawn on 1 January 2004: in force through 2003
        reliance(
            "R3", "B2", "F2", "2003-10-01", "2003-10-01", "2004-09-30", withdrawn_on="2004-01-01"
        ),
        reliance("R4", "B3", "F3", "2003-03-01", "2003-03-01", "2004-03-01"),  # Bangladesh
    ],
    "training-sessions": [
        # SST has 4 training days: 2 of F1's 3 attendees complete; F3's attendee is Bangladesh's
        session("T1", "SST", "2004-06-04", [("F1", 4), ("F1", 4), ("F1", 2), ("F3", 4)]),
        session("T2", "WRR", "2005-02-01", [("F2", 1), ("F2", 1)]),
    ],
    "advisory-visits": [
        visit("V1", "F1", "2003-08-01", 1.5),
        visit("V2", "F2", "2004-02-02", 0.5),
        visit("V3", "F3", "2004-03-03", 2.0),  # Bangladesh
        visit("V4", "F1", "2007-05-05", 1.0),  # 2006 is a year without any fact
    ],
}


def write(directory: Path, bundle: dict[str, list[BaseModel]]) -> Path:
    with BundleWriter(directory) as writer:
        for name, entries in bundle.items():
            for entry in entries:
                writer[name].write(entry.model_dump(mode="json"))
        writer.finish(
            bundle_id="tiny",
            programme="tiny",
            country="KH",
            created_at=datetime(2011, 1, 1, tzinfo=UTC),
            description="",
        )
    return directory


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return write(tmp_path / "tiny", BUNDLE)


def zeros(year: int) -> dict[str, Any]:
    return {
        "year": year,
        "assessments_completed": 0,
        "factories_assessed": 0,
        "workers": {"women": 0, "men": 0, "total": 0},
        "buyers_participating": 0,
        "buyers_relying": 0,
        "training_participants": 0,
        "training_completions": 0,
        "advisory_days": 0.0,
        "non_compliance_rate": {},
    }


EXPECTED: dict[str, Any] = {
    "country": "KH",
    "first_year": 2003,
    "last_year": 2007,
    "years": [
        {
            **zeros(2003),
            "assessments_completed": 2,
            "factories_assessed": 2,
            # F1 on 10 May: its first entry, in force from its registration; F2's likewise
            "workers": {"women": 120, "men": 30, "total": 150},
            "buyers_participating": 2,  # B1, B2 (revoked on 1 January 2004)
            "buyers_relying": 2,  # B1 (R1), B2 (R3, withdrawn on 1 January 2004)
            "advisory_days": 1.5,
            # A1: OSH (WT corrected away), A2: FOR (corrected to a non-compliance)
            "non_compliance_rate": {"CHL": 0.0, "FOR": 0.5, "OSH": 0.5, "WT": 0.0},
        },
        {
            **zeros(2004),
            "assessments_completed": 2,
            "factories_assessed": 1,
            "workers": {"women": 90, "men": 30, "total": 120},  # F1 on 20 November: 2004's
            "buyers_participating": 1,  # B1 (G4 never in force)
            "buyers_relying": 1,  # B1 (R1 into 2004; R2 never)
            "training_participants": 3,
            "training_completions": 2,
            "advisory_days": 0.5,
            "non_compliance_rate": {"OSH": 0.5, "WT": 0.5},
        },
        {
            **zeros(2005),
            "assessments_completed": 1,
            "factories_assessed": 1,
            "workers": {"women": 60, "men": 20, "total": 80},
            "buyers_participating": 1,
            "training_participants": 2,
            "training_completions": 2,
            "non_compliance_rate": {"DIS": 1.0},
        },
        zeros(2006),
        {**zeros(2007), "advisory_days": 1.0},
    ],
    "cumulative": {
        "assessments_completed": 5,
        "factories_assessed": 2,
        # each factory at its last report: F1 on 2004-11-20 (90/30), F2 on 2005-01-15 (60/20)
        "workers": {"women": 150, "men": 50, "total": 200},
        "buyers_participating": 2,
        "buyers_relying": 2,
        "training_participants": 5,
        "training_completions": 4,
        "advisory_days": 3.0,
        "non_compliance_rate": {"CHL": 0.0, "DIS": 0.2, "FOR": 0.2, "OSH": 0.4, "WT": 0.2},
    },
}


class TestTheHandComputedTable:
    def test_the_table_is_the_hand_computed_one(self, tiny: Path) -> None:
        assert results(tiny, "KH", today=TODAY) == EXPECTED

    def test_the_country_is_read_in_any_case_and_another_countrys_table_is_its_own(
        self, tiny: Path
    ) -> None:
        assert results(tiny, "kh", today=TODAY) == EXPECTED
        bangladesh = results(tiny, "BD", today=TODAY)
        # G3 has no end: Bangladesh's table runs to the current year
        assert (bangladesh["first_year"], bangladesh["last_year"]) == (2003, TODAY.year)
        assert bangladesh["years"][-1]["buyers_participating"] == 1
        assert bangladesh["cumulative"]["workers"]["total"] == 1000
        assert bangladesh["cumulative"]["buyers_participating"] == 1
        assert bangladesh["cumulative"]["training_participants"] == 1

    def test_an_open_ended_grant_counts_up_to_the_current_year_never_after(
        self, tiny: Path
    ) -> None:
        bangladesh = results(tiny, "BD", today=date(2004, 6, 1))
        assert bangladesh["last_year"] == 2004
        # G3 has no end: in force in every year up to today's
        assert results(tiny, "BD", today=date(2006, 6, 1))["last_year"] == 2006

    def test_nothing_after_the_current_year(self, tiny: Path) -> None:
        table = results(tiny, "KH", today=date(2004, 6, 1))
        assert (table["first_year"], table["last_year"]) == (2003, 2004)
        assert table["years"][:2] == [
            EXPECTED["years"][0],
            # A4 of 20 November 2004 is in its year even so (a year is counted whole)
            EXPECTED["years"][1],
        ]

    def test_a_country_without_facts(self, tiny: Path) -> None:
        with pytest.raises(NoFacts, match="VN"):
            results(tiny, "VN", today=TODAY)

    def test_a_file_that_is_not_the_manifests(self, tiny: Path) -> None:
        with (tiny / "advisory_visits.jsonl").open("a", encoding="utf-8") as file:
            file.write("\n")
        with pytest.raises(BundleError, match=r"advisory_visits\.jsonl"):
            results(tiny, "KH", today=TODAY)


class TestTheCommand:
    def test_json_is_the_endpoints_document(
        self, tiny: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["expected", str(tiny), "--country", "KH", "--json"]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed["years"][0] == EXPECTED["years"][0]
        assert printed["cumulative"] == EXPECTED["cumulative"]

    def test_the_text_table_has_a_row_per_year_and_the_cumulative_row(
        self, tiny: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["expected", str(tiny), "--country", "KH"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].startswith("programme results, KH 2003-")
        assert [line.split()[0] for line in lines[2:]] == [
            "2003",
            "2004",
            "2005",
            "2006",
            "2007",
            "cumulative",
        ]
        assert render(results(tiny, "KH", today=TODAY)).splitlines()[2:] == lines[2:]

    def test_no_facts_is_an_error(self, tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["expected", str(tiny), "--country", "VN"]) == 1
        assert "VN" in capsys.readouterr().err
