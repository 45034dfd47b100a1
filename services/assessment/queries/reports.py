"""Reads behind the reports: an assessment's report (its findings and the factory's responses,
shaped by domain/reports.py with the catalogue it pins) and a factory's compliance trend."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from services.assessment.compliance_catalogue import Catalogue
from services.assessment.domain import reports
from services.assessment.queries.assessments import assessment_view, findings_of, responses_of
from services.assessment.tables import assessment, finding


async def assessment_report(
    connection: AsyncConnection, row: RowMapping, catalogue: Catalogue
) -> dict[str, Any]:
    """Findings by cluster and compliance point with rates, critical issues first, and the
    factory's responses, as they are now (corrections show)."""
    findings = await findings_of(connection, row["assessment_id"])
    responses = await responses_of(connection, row["assessment_id"])
    return reports.assessment_report(assessment_view(row), catalogue, findings, responses)


async def compliance_trend(connection: AsyncConnection, factory_id: str) -> list[dict[str, Any]]:
    """Completed assessments by cycle with per-cluster counts and the change since the last cycle."""
    per_cluster = (
        await connection.execute(
            select(
                assessment.c.assessment_id,
                assessment.c.cycle,
                assessment.c.report_date,
                finding.c.cluster_id,
                func.count().filter(finding.c.result != "not_applicable").label("questions"),
                func.count().filter(finding.c.result == "non_compliant").label("non_compliant"),
            )
            .join(finding, finding.c.assessment_id == assessment.c.assessment_id)
            .where(assessment.c.factory_id == factory_id, assessment.c.status == "completed")
            .group_by(
                assessment.c.assessment_id,
                assessment.c.cycle,
                assessment.c.report_date,
                finding.c.cluster_id,
            )
            .order_by(assessment.c.cycle, finding.c.cluster_id)
        )
    ).mappings()
    return reports.compliance_trend(per_cluster)
