"""The facts of the programme's results table (docs/programme-results.md) that no other read model
keeps, from the upstream batches (projections/upstream.py hands them here):

- `factory_workforce`: the workforce of every FactoryRegistered/FactoryUpdated, in force from the
  event's business day (its envelope's `time`), one row per factory stream version, so a
  redelivered event changes nothing;
- `assessment_cluster`: per assessment and cluster answered, whether a finding in it is
  non-compliant, recomputed from `report_result` (corrections applied there) for the assessments
  a completion or a correction touched, never incremented.

Everything else the table counts is read at query time from the rows other projections keep
(queries/results.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any

import asyncpg

from libs.domain.envelope import DomainEvent
from services.buyer_sharing import upstream
from services.buyer_sharing.tables import SCHEMA

if TYPE_CHECKING:
    from services.buyer_sharing.projections.upstream import Meta

S = f'"{SCHEMA}"'
WORKFORCE_SQL = f"""
INSERT INTO {S}.factory_workforce (factory_id, version, in_force_from, women, men)
SELECT * FROM unnest($1::text[], $2::int[], $3::date[], $4::int[], $5::int[])
ON CONFLICT (factory_id, version) DO NOTHING
"""

# Two transactions may recompute one assessment at once (replicas, a batch and a dead letter's
# replay): each takes the assessment's transaction lock first, in key order, so the later one's
# statements start after the earlier one committed and see its rows.
LOCK_SQL = """
SELECT pg_advisory_xact_lock(key) FROM (
    SELECT DISTINCT hashtextextended('buyer_sharing.assessment_cluster:' || id, 0) AS key
    FROM unnest($1::text[]) AS id ORDER BY 1
) AS keys
"""
# a cluster is the question id's prefix before its first '-'; answered: compliant or not
_CLUSTERS = f"""
INSERT INTO {S}.assessment_cluster AS t (assessment_id, cluster_id, non_compliant)
SELECT assessment_id, split_part(question_id, '-', 1), bool_or(result = 'non_compliant')
FROM {S}.report_result
WHERE result IN ('compliant', 'non_compliant') {{and_only}}
GROUP BY 1, 2
ON CONFLICT (assessment_id, cluster_id) DO UPDATE SET non_compliant = excluded.non_compliant
WHERE t.non_compliant <> excluded.non_compliant
"""
# a cluster none of whose questions is answered any more (a correction to not applicable) goes
_STALE = f"""
DELETE FROM {S}.assessment_cluster c {{where}} NOT EXISTS (
    SELECT 1 FROM {S}.report_result r
    WHERE r.assessment_id = c.assessment_id AND split_part(r.question_id, '-', 1) = c.cluster_id
      AND r.result IN ('compliant', 'non_compliant'))
"""
CLUSTERS_SQL = (
    _CLUSTERS.format(and_only="AND assessment_id = ANY($1::text[])"),
    _STALE.format(where="WHERE c.assessment_id = ANY($1::text[]) AND"),
)
CLUSTERS_ALL_SQL = (_CLUSTERS.format(and_only=""), _STALE.format(where="WHERE"))


@dataclass
class ResultsRows:
    """A batch's facts for the results table, merged per key, and the assessments whose clusters
    must be recomputed."""

    workforce: dict[tuple[str, int], tuple[Any, ...]] = field(default_factory=dict)
    assessments: set[str] = field(default_factory=set)

    def add(self, meta: Meta, event: DomainEvent) -> None:
        if isinstance(event, upstream.FactoryRegistered | upstream.FactoryUpdated):
            if event.workforce is None:
                return  # an older producer's event: no workforce to count
            key = (event.factory_id, meta.streamversion)
            in_force_from = meta.time.astimezone(UTC).date()
            workforce = event.workforce
            self.workforce[key] = (*key, in_force_from, workforce.women, workforce.men)
        elif isinstance(event, upstream.AssessmentCompleted | upstream.FindingCorrected):
            self.assessments.add(event.assessment_id)

    async def write(self, driver: asyncpg.Connection) -> None:
        if self.workforce:
            columns = zip(*self.workforce.values(), strict=True)
            await driver.execute(WORKFORCE_SQL, *(list(column) for column in columns))


async def refresh_clusters(
    driver: asyncpg.Connection, assessment_ids: Iterable[str] | None
) -> None:
    """Recompute `assessment_cluster` for `assessment_ids` (None: every assessment, as the
    rebuild does once at its end), after their results were written."""
    if assessment_ids is None:
        for sql in CLUSTERS_ALL_SQL:
            await driver.execute(sql)
        return
    ids = sorted(set(assessment_ids))
    if not ids:
        return
    await driver.execute(LOCK_SQL, ids)
    for sql in CLUSTERS_SQL:
        await driver.execute(sql, ids)
