"""The report a credential attests, pure: the full report document of a completed assessment (the
document whose SHA-256 the credential carries), which revision of it a credential is, and which
corrections change it.

The document says what the programme already publishes of a completed report (its public events):
every answered question's result, and the evidence of each non-compliance. A compliant finding's
evidence stays with the factory and the programme, so correcting only that changes no report and
issues no credential."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from libs.credentials.dcc import REPORT_FORMAT, credential_id
from services.assessment.compliance_catalogue import Catalogue
from services.assessment.domain.assessment_events import FindingFacts
from services.assessment.domain.assessment_state import Assessment


@dataclass(frozen=True)
class FactoryNamed:
    """The factory as the report names it (its registration when the credential is issued)."""

    factory_id: str
    name: str
    country: str
    os_id: str | None


def finding_in_report(facts: FindingFacts) -> dict[str, Any]:
    """What the report says of one finding (besides the question)."""
    if facts.result == "non_compliant":
        return {"result": facts.result, "evidence": facts.evidence}
    return {"result": facts.result}


def changes_report(before: FindingFacts, after: FindingFacts) -> bool:
    """Whether a correction from `before` to `after` changes the report document."""
    return finding_in_report(before) != finding_in_report(after)


def next_revision(assessment: Assessment) -> int:
    """The revision the next credential of the report is: 0 for the first."""
    revision = assessment.credential_revision
    return 0 if revision is None else revision + 1


def next_credential_id(assessment: Assessment) -> str:
    return credential_id(assessment.assessment_id, next_revision(assessment))


def report_document(
    assessment: Assessment,
    catalogue: Catalogue,
    *,
    catalogue_effective_from: date | None,
    factory: FactoryNamed,
    revision: int,
) -> dict[str, Any]:
    """The full report of a completed assessment: factory, cycle, report date, the catalogue it
    pins, and its findings by cluster and compliance point, in catalogue order."""
    if assessment.report_date is None:
        raise ValueError(f"assessment {assessment.assessment_id} has no report yet")
    clusters = []
    non_compliant = 0
    for cluster in catalogue.clusters:
        points = []
        for point in cluster.points:
            findings = []
            for question in point.questions:
                found = assessment.findings.get(question.id)
                if found is None:
                    continue
                non_compliant += found.facts.result == "non_compliant"
                findings.append(
                    {
                        "question_id": question.id,
                        "question_text": question.text,
                        "critical": question.critical,
                        "zero_tolerance": question.zero_tolerance,
                        **finding_in_report(found.facts),
                    }
                )
            if findings:
                points.append(
                    {"compliance_point_id": point.id, "name": point.name, "findings": findings}
                )
        if points:
            clusters.append(
                {
                    "cluster_id": cluster.id,
                    "name": cluster.name,
                    "category": cluster.category,
                    "points": points,
                }
            )
    return {
        "format": REPORT_FORMAT,
        "assessment_id": assessment.assessment_id,
        "revision": revision,
        "factory": {
            "factory_id": factory.factory_id,
            "name": factory.name,
            "country": factory.country,
            "os_id": factory.os_id,
        },
        "country": assessment.country,
        "cycle": assessment.cycle,
        "report_date": assessment.report_date.isoformat(),
        "catalogue": {
            "version": assessment.catalogue_version,
            "effective_from": (
                catalogue_effective_from.isoformat() if catalogue_effective_from else None
            ),
        },
        "non_compliance_count": non_compliant,
        "clusters": clusters,
    }
