"""The rebuild's synthesis rows, worked out in memory, are what the live projection's SQL gives:
per compliance point with any finding, the answered ones and the non-compliant ones; nothing for an
assessment not completed (pure, no I/O)."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.assessment.rebuild import points_of

COMPLETED = {
    "assessment_id": "a1",
    "factory_id": "f1",
    "country": "KH",
    "report_date": date(2025, 3, 1),
    "status": "completed",
}


def finding(point: str, result: str, cluster: str = "OSH") -> dict[str, Any]:
    return {"cluster_id": cluster, "compliance_point_id": point, "result": result}


def test_counts_per_point_leave_not_applicable_out_but_keep_its_point() -> None:
    rows = points_of(
        COMPLETED,
        [
            finding("P1", "compliant"),
            finding("P1", "non_compliant"),
            finding("P1", "not_applicable"),
            finding("P2", "not_applicable"),
            finding("P3", "non_compliant", cluster="WAG"),
        ],
    )
    counts = {
        (row["cluster_id"], row["compliance_point_id"]): (row["findings"], row["non_compliant"])
        for row in rows
    }
    assert counts == {("OSH", "P1"): (2, 1), ("OSH", "P2"): (0, 0), ("WAG", "P3"): (1, 1)}
    assert {(row["assessment_id"], row["factory_id"], row["country"]) for row in rows} == {
        ("a1", "f1", "KH")
    }
    assert {row["report_date"] for row in rows} == {date(2025, 3, 1)}


def test_an_assessment_not_completed_has_no_synthesis_rows() -> None:
    assert points_of({**COMPLETED, "status": "scheduled"}, [finding("P1", "non_compliant")]) == []
    assert points_of(None, []) == []
