"""The facts of one country programme's results table (domain/results.py computes the table), read
in one statement, so they come from one snapshot in one round trip: per factory and year its
completed assessments, the workforce facts of the factories assessed, per year and cluster the
assessments non-compliant in it, the grant and reliance periods, the training and advisory work
per year. A factory is the programme's by its registered country (or, registered nowhere we know,
by its reports' country)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.store import driver_connection
from services.buyer_sharing.domain.results import (
    AdvisoryYear,
    AssessedYear,
    ClusterYear,
    Facts,
    TrainingYear,
    WorkforceFact,
    grant_period,
    reliance_period,
)
from services.buyer_sharing.tables import SCHEMA

S = f'"{SCHEMA}"'
FACTS_SQL = f"""
WITH programme AS (
    SELECT factory_id FROM {S}.factory WHERE country = $1
    UNION
    SELECT r.factory_id FROM {S}.report r
    WHERE r.country = $1
      AND NOT EXISTS (SELECT 1 FROM {S}.factory f WHERE f.factory_id = r.factory_id)
),
reports AS (
    SELECT r.assessment_id, r.factory_id, r.report_date,
        extract(year FROM r.report_date)::int AS year
    FROM {S}.report r JOIN programme p ON p.factory_id = r.factory_id
)
SELECT
    (SELECT json_agg(json_build_array(factory_id, year, assessments, last_report_date))
     FROM (SELECT factory_id, year, count(*) AS assessments, max(report_date) AS last_report_date
           FROM reports GROUP BY factory_id, year) a) AS assessed,
    (SELECT json_agg(json_build_array(w.factory_id, w.in_force_from, w.version, w.women, w.men))
     FROM {S}.factory_workforce w
     WHERE w.factory_id IN (SELECT factory_id FROM reports)) AS workforce,
    (SELECT json_agg(json_build_array(year, cluster_id, non_compliant))
     FROM (SELECT r.year, c.cluster_id, count(*) FILTER (WHERE c.non_compliant) AS non_compliant
           FROM reports r JOIN {S}.assessment_cluster c ON c.assessment_id = r.assessment_id
           GROUP BY r.year, c.cluster_id) k) AS clusters,
    (SELECT json_agg(json_build_array(buyer_id, granted_on, ends_on, next_change_on))
     FROM (SELECT h.buyer_id, h.action, (h.at AT TIME ZONE 'UTC')::date AS granted_on, h.ends_on,
               (lead(h.at) OVER (PARTITION BY h.factory_id, h.buyer_id ORDER BY h.version)
                   AT TIME ZONE 'UTC')::date AS next_change_on
           FROM {S}.sharing_history h JOIN programme p ON p.factory_id = h.factory_id) g
     WHERE action = 'granted') AS grants,
    (SELECT json_agg(json_build_array(r.buyer_id, r.period_start, r.period_end,
                (r.withdrawn_at AT TIME ZONE 'UTC')::date))
     FROM {S}.audit_reliance r JOIN programme p ON p.factory_id = r.factory_id) AS reliances,
    (SELECT json_agg(json_build_array(year, participants, completions))
     FROM (SELECT extract(year FROM t.end_date)::int AS year, sum(t.participants) AS participants,
               sum(t.completions) AS completions
           FROM {S}.training_delivery t JOIN programme p ON p.factory_id = t.factory_id
           GROUP BY 1) t) AS training,
    -- the days as written (text), not as a binary float
    (SELECT json_agg(json_build_array(year, days))
     FROM (SELECT extract(year FROM v.visited_on)::int AS year, sum(v.duration_days)::text AS days
           FROM {S}.advisory_visit v JOIN programme p ON p.factory_id = v.factory_id
           GROUP BY 1) v) AS advisory
"""


def _rows(value: Any) -> list[list[Any]]:
    """A json_agg's rows (decoded already where the engine's driver decodes JSON)."""
    if value is None:
        return []
    rows: list[list[Any]] = json.loads(value) if isinstance(value, str | bytes) else value
    return rows


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _date(value: str) -> date:
    return date.fromisoformat(value)


async def programme_facts(connection: AsyncConnection, country: str) -> Facts:
    """Everything the table of `country`'s programme is computed from."""
    driver = await driver_connection(connection)
    row = await driver.fetchrow(FACTS_SQL, country)
    assert row is not None  # one row, always
    return Facts(
        assessed=[
            AssessedYear(factory_id, year, assessments, _date(last))
            for factory_id, year, assessments, last in _rows(row["assessed"])
        ],
        workforce=[
            WorkforceFact(factory_id, _date(since), version, women, men)
            for factory_id, since, version, women, men in _rows(row["workforce"])
        ],
        clusters=[ClusterYear(*entry) for entry in _rows(row["clusters"])],
        grants=[
            grant_period(buyer_id, _date(granted_on), _day(ends_on), _day(next_change_on))
            for buyer_id, granted_on, ends_on, next_change_on in _rows(row["grants"])
        ],
        reliances=[
            reliance_period(buyer_id, _date(start), _date(end), _day(withdrawn_on))
            for buyer_id, start, end, withdrawn_on in _rows(row["reliances"])
        ],
        training=[TrainingYear(*entry) for entry in _rows(row["training"])],
        advisory=[AdvisoryYear(year, Decimal(days)) for year, days in _rows(row["advisory"])],
    )
