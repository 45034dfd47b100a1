"""The yearly synthesis of a country's completed assessments, and what keeps it: the country's
synthesis version (moved by every completion or correction) and the syntheses each process keeps
until that version moves."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.assessment.compliance_catalogue import CatalogueLibrary
from services.assessment.domain import reports
from services.assessment.tables import assessment, assessment_point
from services.assessment.tables import synthesis_version as synthesis_version_table


class SynthesisCache:
    """The yearly syntheses this process computed, by country and year, each with the country's
    synthesis version it was computed at: valid while the version has not moved. The version is
    read before the synthesis, so an entry is never older than its version."""

    LIMIT = 512

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int], tuple[int, dict[str, Any]]] = {}

    def get(self, country: str, year: int, version: int) -> dict[str, Any] | None:
        entry = self._entries.get((country, year))
        return entry[1] if entry is not None and entry[0] == version else None

    def put(self, country: str, year: int, version: int, synthesis: dict[str, Any]) -> None:
        if len(self._entries) >= self.LIMIT:
            self._entries.clear()
        self._entries[(country, year)] = (version, synthesis)


async def synthesis_version(connection: AsyncConnection, country: str) -> int:
    """The country's synthesis version (0 before its first completed assessment)."""
    version = await connection.scalar(
        select(synthesis_version_table.c.version).where(
            synthesis_version_table.c.country == country
        )
    )
    return int(version or 0)


async def yearly_synthesis(
    connection: AsyncConnection, library: CatalogueLibrary, *, country: str, year: int
) -> dict[str, Any]:
    """Per cluster and compliance point, across the factories of a country assessed in a year:
    how many factories were non-compliant on it, and findings (shaped by domain/reports.py)."""
    # assessment_point holds completed assessments only, one row per compliance point
    point = assessment_point.c
    in_year = and_(
        point.country == country,
        point.report_date >= date(year, 1, 1),
        point.report_date <= date(year, 12, 31),
    )
    per_point = (
        await connection.execute(
            select(
                point.cluster_id,
                point.compliance_point_id,
                func.count(func.distinct(point.factory_id)).label("factories_assessed"),
                func.count(func.distinct(point.factory_id))
                .filter(point.non_compliant > 0)
                .label("factories_non_compliant"),
                func.sum(point.findings).label("findings"),
                func.sum(point.non_compliant).label("non_compliant"),
            )
            .where(in_year)
            .group_by(point.cluster_id, point.compliance_point_id)
            .order_by(point.cluster_id, point.compliance_point_id)
        )
    ).mappings()
    assessments_count = await connection.scalar(
        select(func.count())
        .select_from(assessment)
        .where(
            assessment.c.status == "completed",
            assessment.c.country == country,
            assessment.c.report_date >= date(year, 1, 1),
            assessment.c.report_date <= date(year, 12, 31),
        )
    )
    return {
        "country": country,
        "year": year,
        "assessments": int(assessments_count or 0),
        "clusters": reports.synthesis_clusters(per_point, library),
    }
