"""The facts of the programme's results table (docs/programme-results.md) that no other read model
keeps, from the upstream batches (projections/upstream.py hands them here):

- `factory_workforce`: the workforce of every FactoryRegistered/FactoryUpdated, in force from the
  event's business day (its envelope's `time`), one row per factory stream version, so a
  redelivered event changes nothing;
- `assessment_cluster`: per assessment and cluster answered, whether a finding in it is
  non-compliant, recomputed from `report_result` (corrections applied there) for the assessments
  a completion or a correction touched, never incremented;
- `factory_year_result` (per factory and calendar year of its reports: their number, the last
  one's date, the workforce in force on it) and `factory_year_cluster` (per cluster answered in
  them: the reports non-compliant in it), recomputed for the factories a registration, an
  update, a completion or a correction touched.

The rest of what the table counts (grants, reliances, training, advice) is read at query time
from the rows other projections keep (queries/results.py)."""

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

FACTORY_LOCK_SQL = """
SELECT pg_advisory_xact_lock(key) FROM (
    SELECT DISTINCT hashtextextended('buyer_sharing.factory_year_result:' || id, 0) AS key
    FROM unnest($1::text[]) AS id ORDER BY 1
) AS keys
"""
# The workforce in force on the last report's date: the newest fact from that day or before (of
# two of one day, the later version); none by then (a report before the registration), 0.
_FACTORY_YEARS = f"""
WITH ids AS ({{ids}}),
years AS (
    SELECT r.factory_id, extract(year FROM r.report_date)::int AS year, count(*) AS assessments,
        max(r.report_date) AS last_report_date,
        (array_agg(r.country ORDER BY r.report_date DESC, r.assessment_id DESC))[1]
            AS report_country
    FROM {S}.report r JOIN ids ON ids.factory_id = r.factory_id
    GROUP BY r.factory_id, year
)
INSERT INTO {S}.factory_year_result AS t (factory_id, year, country, assessments,
    last_report_date, women, men)
SELECT y.factory_id, y.year, coalesce(f.country, y.report_country), y.assessments,
    y.last_report_date, coalesce(w.women, 0), coalesce(w.men, 0)
FROM years y
LEFT JOIN {S}.factory f ON f.factory_id = y.factory_id
LEFT JOIN LATERAL (
    SELECT women, men FROM {S}.factory_workforce w
    WHERE w.factory_id = y.factory_id AND w.in_force_from <= y.last_report_date
    ORDER BY w.in_force_from DESC, w.version DESC LIMIT 1
) w ON true
ON CONFLICT (factory_id, year) DO UPDATE SET country = excluded.country,
    assessments = excluded.assessments, last_report_date = excluded.last_report_date,
    women = excluded.women, men = excluded.men
WHERE (t.country, t.assessments, t.last_report_date, t.women, t.men)
    IS DISTINCT FROM (excluded.country, excluded.assessments, excluded.last_report_date,
        excluded.women, excluded.men)
"""
# after the factory's years: their country is the year's
_FACTORY_YEAR_CLUSTERS = f"""
INSERT INTO {S}.factory_year_cluster AS t (factory_id, year, cluster_id, country, non_compliant)
SELECT y.factory_id, y.year, c.cluster_id, y.country, count(*) FILTER (WHERE c.non_compliant)
FROM {S}.factory_year_result y
JOIN {S}.report r ON r.factory_id = y.factory_id
    AND extract(year FROM r.report_date)::int = y.year
JOIN {S}.assessment_cluster c ON c.assessment_id = r.assessment_id
{{where}}
GROUP BY y.factory_id, y.year, c.cluster_id, y.country
ON CONFLICT (factory_id, year, cluster_id) DO UPDATE SET country = excluded.country,
    non_compliant = excluded.non_compliant
WHERE (t.country, t.non_compliant) IS DISTINCT FROM (excluded.country, excluded.non_compliant)
"""
# a year without reports any more, a cluster no report of the year answers any more, goes
_STALE_YEARS = f"""
DELETE FROM {S}.factory_year_result t {{where}} NOT EXISTS (
    SELECT 1 FROM {S}.report r
    WHERE r.factory_id = t.factory_id AND extract(year FROM r.report_date)::int = t.year)
"""
_STALE_CLUSTERS = f"""
DELETE FROM {S}.factory_year_cluster t {{where}} NOT EXISTS (
    SELECT 1 FROM {S}.report r JOIN {S}.assessment_cluster c ON c.assessment_id = r.assessment_id
    WHERE r.factory_id = t.factory_id AND extract(year FROM r.report_date)::int = t.year
      AND c.cluster_id = t.cluster_id)
"""
FACTORY_YEARS_SQL = (
    _FACTORY_YEARS.format(ids="SELECT DISTINCT unnest($1::text[]) AS factory_id"),
    _STALE_YEARS.format(where="WHERE t.factory_id = ANY($1::text[]) AND"),
    _FACTORY_YEAR_CLUSTERS.format(where="WHERE y.factory_id = ANY($1::text[])"),
    _STALE_CLUSTERS.format(where="WHERE t.factory_id = ANY($1::text[]) AND"),
)
FACTORY_YEARS_ALL_SQL = (
    _FACTORY_YEARS.format(ids=f"SELECT DISTINCT factory_id FROM {S}.report"),
    _STALE_YEARS.format(where="WHERE"),
    _FACTORY_YEAR_CLUSTERS.format(where=""),
    _STALE_CLUSTERS.format(where="WHERE"),
)


@dataclass
class ResultsRows:
    """A batch's facts for the results table, merged per key, and the assessments and factories
    whose derived rows must be recomputed."""

    workforce: dict[tuple[str, int], tuple[Any, ...]] = field(default_factory=dict)
    assessments: set[str] = field(default_factory=set)
    factories: set[str] = field(default_factory=set)

    def add(self, meta: Meta, event: DomainEvent) -> None:
        if isinstance(event, upstream.FactoryRegistered | upstream.FactoryUpdated):
            self.factories.add(event.factory_id)  # its workforce or its country may change
            if event.workforce is None:
                return  # an older producer's event: no workforce to count
            key = (event.factory_id, meta.streamversion)
            in_force_from = meta.time.astimezone(UTC).date()
            workforce = event.workforce
            self.workforce[key] = (*key, in_force_from, workforce.women, workforce.men)
        elif isinstance(event, upstream.AssessmentCompleted | upstream.FindingCorrected):
            self.assessments.add(event.assessment_id)
            self.factories.add(event.factory_id)

    async def write(self, driver: asyncpg.Connection) -> None:
        if self.workforce:
            columns = zip(*self.workforce.values(), strict=True)
            await driver.execute(WORKFORCE_SQL, *(list(column) for column in columns))


async def refresh_results(driver: asyncpg.Connection, rows: ResultsRows | None) -> None:
    """Recompute the assessments' clusters and then the factories' years a batch touched (None:
    all of them, as the rebuild does once at its end), after the batch's rows were written."""
    if rows is None:
        for sql in (*CLUSTERS_ALL_SQL, *FACTORY_YEARS_ALL_SQL):
            await driver.execute(sql)
        return
    await _refresh(driver, rows.assessments, LOCK_SQL, CLUSTERS_SQL)
    await _refresh(driver, rows.factories, FACTORY_LOCK_SQL, FACTORY_YEARS_SQL)


async def _refresh(
    driver: asyncpg.Connection, keys: Iterable[str], lock: str, statements: Iterable[str]
) -> None:
    ids = sorted(set(keys))
    if not ids:
        return
    await driver.execute(lock, ids)
    for sql in statements:
        await driver.execute(sql, ids)
