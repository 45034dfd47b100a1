"""A shared factory's completed reports with their findings, the factory's responses and
disputes, corrections as attributed history, remediation status and the report's verifiable
credentials (the route checks consent first, on the same connection)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.buyer_sharing.queries import credentials
from services.buyer_sharing.tables import SCHEMA

Row = dict[str, Any]

_REPORTS_SQL = text(
    f"""
    SELECT assessment_id, cycle, country, catalogue_version, report_date, non_compliance_count,
        summary
    FROM "{SCHEMA}".report WHERE factory_id = :factory_id
    ORDER BY report_date DESC, cycle DESC
    """
)
_FINDINGS_SQL = text(
    f"""
    SELECT f.assessment_id, f.question_id, f.cluster_id, f.cluster_name, f.compliance_point_id,
        f.compliance_point_name, f.question_text, f.critical, f.zero_tolerance, f.evidence,
        coalesce(rr.result, 'non_compliant') AS result,
        (SELECT p.status FROM "{SCHEMA}".plan_item p
         WHERE p.assessment_id = f.assessment_id AND p.question_id = f.question_id
         ORDER BY p.plan_version DESC LIMIT 1) AS remediation_status,
        (SELECT bool_or(p.overdue) FROM "{SCHEMA}".plan_item p
         WHERE p.assessment_id = f.assessment_id AND p.question_id = f.question_id)
            AS remediation_overdue
    FROM "{SCHEMA}".finding f
    LEFT JOIN "{SCHEMA}".report_result rr
        ON rr.assessment_id = f.assessment_id AND rr.question_id = f.question_id
    WHERE f.assessment_id = ANY(:assessment_ids)
    ORDER BY f.assessment_id, f.question_id
    """
)
_NOTES_SQL = text(
    f"""
    SELECT assessment_id, question_id, kind, text, reason, result_before, result_after, actor, at
    FROM "{SCHEMA}".finding_note WHERE assessment_id = ANY(:assessment_ids)
    ORDER BY assessment_id, stream_version, event_id
    """
)


async def factory_reports(connection: AsyncConnection, factory_id: str) -> list[Row]:
    """Every completed report of the factory, newest first, with its findings, the factory's
    responses and disputes, corrections as attributed history, remediation status, and its
    credentials (`credentials.of_reports`). Only completed assessments ever reach these tables
    (the assessment service publishes nothing before completion)."""
    reports = [
        row._asdict() for row in await connection.execute(_REPORTS_SQL, {"factory_id": factory_id})
    ]
    ids = [report["assessment_id"] for report in reports]
    if not ids:
        return []
    findings: dict[str, list[Row]] = {assessment_id: [] for assessment_id in ids}
    by_question: dict[tuple[str, str], Row] = {}
    for row in await connection.execute(_FINDINGS_SQL, {"assessment_ids": ids}):
        finding = row._asdict()
        finding.update(responses=[], disputes=[], corrections=[])
        findings[finding["assessment_id"]].append(finding)
        by_question[(finding["assessment_id"], finding["question_id"])] = finding
    for row in await connection.execute(_NOTES_SQL, {"assessment_ids": ids}):
        note = row._asdict()
        target = by_question.get((note["assessment_id"], note["question_id"]))
        if target is None:  # a note on a question found compliant (e.g. corrected to non-compliant)
            continue
        key = {"response": "responses", "dispute": "disputes", "correction": "corrections"}
        target[key[note["kind"]]].append(
            {k: note[k] for k in ("text", "reason", "result_before", "result_after", "actor", "at")}
        )
    issued = await credentials.of_reports(connection, factory_id, ids)
    for report in reports:
        report["findings"] = findings[report["assessment_id"]]
        report["credentials"] = issued[report["assessment_id"]]
    return reports
