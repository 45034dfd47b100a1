"""The read side's rules, pure: an assessment's report from its findings and the catalogue it pins,
a factory's compliance trend across cycles, and a country's yearly synthesis from the counts per
compliance point (queries/ fetches the rows, these shape them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from services.assessment.compliance_catalogue import Catalogue, CatalogueLibrary


def rate(non_compliant: int, applicable: int) -> float:
    return round(non_compliant / applicable, 4) if applicable else 0.0


def assessment_report(
    assessment: Mapping[str, Any],
    catalogue: Catalogue,
    findings: Sequence[Mapping[str, Any]],
    responses: Mapping[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    """Findings by cluster and compliance point with rates, critical issues first, and the
    factory's responses. Rates are worked out from the current findings, so corrections show."""
    by_question = {item["question_id"]: item for item in findings}
    clusters = []
    critical_issues = []
    for cluster in catalogue.clusters:
        points = []
        cluster_applicable = cluster_non_compliant = 0
        for point in cluster.points:
            entries = []
            for question in point.questions:
                found = by_question.get(question.id)
                if found is None:
                    continue
                entry = {
                    "question_id": question.id,
                    "question_text": question.text,
                    "critical": question.critical,
                    "zero_tolerance": question.zero_tolerance,
                    "result": found["result"],
                    "evidence": found["evidence"],
                    "evidence_refs": found["evidence_refs"],
                    "corrected": found["corrected"],
                    "responses": responses.get(question.id, []),
                }
                entries.append(entry)
                if found["result"] != "not_applicable":
                    cluster_applicable += 1
                if found["result"] == "non_compliant":
                    cluster_non_compliant += 1
                    if question.critical:
                        critical_issues.append(
                            {**entry, "cluster_id": cluster.id, "compliance_point_id": point.id}
                        )
            # critical questions first within each point
            entries.sort(key=lambda item: not item["critical"])
            points.append(
                {"compliance_point_id": point.id, "name": point.name, "findings": entries}
            )
        clusters.append(
            {
                "cluster_id": cluster.id,
                "name": cluster.name,
                "questions": cluster_applicable,
                "non_compliant": cluster_non_compliant,
                "rate": rate(cluster_non_compliant, cluster_applicable),
                "compliance_points": points,
            }
        )
    return {**assessment, "critical_issues": critical_issues, "clusters": clusters}


def compliance_trend(per_cluster: Iterable[Mapping[Any, Any]]) -> list[dict[str, Any]]:
    """Completed assessments by cycle with per-cluster counts and the change since the last
    cycle, from rows of (assessment_id, cycle, report_date, cluster_id, questions,
    non_compliant) in cycle order."""
    cycles: dict[int, dict[str, Any]] = {}
    for row in per_cluster:
        entry = cycles.setdefault(
            row["cycle"],
            {
                "assessment_id": row["assessment_id"],
                "cycle": row["cycle"],
                "report_date": row["report_date"],
                "clusters": {},
            },
        )
        entry["clusters"][row["cluster_id"]] = {
            "questions": row["questions"],
            "non_compliant": row["non_compliant"],
            "rate": rate(row["non_compliant"], row["questions"]),
        }
    trend: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for cycle in sorted(cycles):
        entry = cycles[cycle]
        total_questions = sum(c["questions"] for c in entry["clusters"].values())
        total_non_compliant = sum(c["non_compliant"] for c in entry["clusters"].values())
        entry["non_compliant"] = total_non_compliant
        entry["rate"] = rate(total_non_compliant, total_questions)
        if previous is None:
            entry["change"] = None
        else:
            entry["change"] = {
                "non_compliant": total_non_compliant - previous["non_compliant"],
                "rate": round(entry["rate"] - previous["rate"], 4),
                "clusters": {
                    cluster_id: {
                        "non_compliant": values["non_compliant"]
                        - previous["clusters"].get(cluster_id, {}).get("non_compliant", 0),
                        "rate": round(
                            values["rate"]
                            - previous["clusters"].get(cluster_id, {}).get("rate", 0.0),
                            4,
                        ),
                    }
                    for cluster_id, values in entry["clusters"].items()
                },
            }
        entry["clusters"] = [
            {"cluster_id": cluster_id, **values} for cluster_id, values in entry["clusters"].items()
        ]
        trend.append(entry)
        previous = {**entry, "clusters": {c["cluster_id"]: c for c in entry["clusters"]}}
    return trend


def synthesis_clusters(
    per_point: Iterable[Mapping[Any, Any]], library: CatalogueLibrary
) -> list[dict[str, Any]]:
    """Per cluster and compliance point of a country's year, from rows of (cluster_id,
    compliance_point_id, factories_assessed, factories_non_compliant, findings, non_compliant)
    in cluster and point order: how many factories were non-compliant on it (the programme's
    published rate), and findings."""
    names = _point_names(library)
    clusters: dict[str, dict[str, Any]] = {}
    for row in per_point:
        cluster_name, point_name = names.get(row["compliance_point_id"], (None, None))
        cluster = clusters.setdefault(
            row["cluster_id"],
            {
                "cluster_id": row["cluster_id"],
                "name": cluster_name,
                "findings": 0,
                "non_compliant": 0,
                "compliance_points": [],
            },
        )
        cluster["findings"] += row["findings"]
        cluster["non_compliant"] += row["non_compliant"]
        cluster["compliance_points"].append(
            {
                "compliance_point_id": row["compliance_point_id"],
                "name": point_name,
                "factories_assessed": row["factories_assessed"],
                "factories_non_compliant": row["factories_non_compliant"],
                "factory_rate": rate(row["factories_non_compliant"], row["factories_assessed"]),
                "findings": row["findings"],
                "non_compliant": row["non_compliant"],
                "rate": rate(row["non_compliant"], row["findings"]),
            }
        )
    for cluster in clusters.values():
        cluster["rate"] = rate(cluster["non_compliant"], cluster["findings"])
    return list(clusters.values())


def _point_names(library: CatalogueLibrary) -> dict[str, tuple[str, str]]:
    names: dict[str, tuple[str, str]] = {}
    for catalogue in library.catalogues.values():
        for cluster in catalogue.clusters:
            for point in cluster.points:
                names[point.id] = (cluster.name, point.name)
    return names
