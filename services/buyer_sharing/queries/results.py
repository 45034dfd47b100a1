"""What one country programme's results table is computed from (domain/results.py does the
table's arithmetic), aggregated per calendar year in one statement, so it comes from one snapshot
in one round trip, up to today:

- from `factory_year_result` (per factory and year): completed reports, factories assessed and
  their workforce on their last report date, and the same factories once each, at their last
  year; from `factory_year_cluster`, the reports non-compliant per cluster;
- buyers with a grant, and with a reliance declaration, in force on a day of each year: a grant
  from its day through its end date or the day before the pair's next change (a revocation, or a
  new grant replacing it); a declaration from its period's start through its end or the day
  before its withdrawal; and each set's buyers over all years;
- attendees and completions of the sessions that ended in the year, advisory days by visit year.

A factory is the programme's by its registered country (or, registered nowhere we know, by its
reports' country)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.events.store import driver_connection
from services.buyer_sharing.domain.results import Ever, ProgrammeFacts, YearFacts
from services.buyer_sharing.tables import RESULTS, SCHEMA, TRANSPARENCY

S = f'"{SCHEMA}"'
# $1 the country, $2 today
FACTS_SQL = f"""
WITH programme AS (
    SELECT factory_id FROM {S}.factory WHERE country = $1
    UNION
    SELECT factory_id FROM {S}.factory_year_result WHERE country = $1
),
assessed AS (
    SELECT factory_id, year, assessments, women, men
    FROM {S}.factory_year_result
    WHERE country = $1 AND year <= extract(year FROM $2::date)::int
),
grants AS (
    SELECT DISTINCT buyer_id, extract(year FROM first_day)::int AS first_year,
        extract(year FROM last_day)::int AS last_year
    FROM (
        SELECT buyer_id, granted_on AS first_day,
            least(ends_on, next_change_on - 1, $2::date) AS last_day
        FROM (
            SELECT h.buyer_id, h.action, (h.at AT TIME ZONE 'UTC')::date AS granted_on,
                h.ends_on,
                (lead(h.at) OVER (PARTITION BY h.factory_id, h.buyer_id ORDER BY h.version)
                    AT TIME ZONE 'UTC')::date AS next_change_on
            FROM {S}.sharing_history h JOIN programme p ON p.factory_id = h.factory_id
        ) AS history
        WHERE action = 'granted'
    ) AS periods
    WHERE first_day <= last_day
),
reliances AS (
    SELECT DISTINCT buyer_id, extract(year FROM first_day)::int AS first_year,
        extract(year FROM last_day)::int AS last_year
    FROM (
        SELECT r.buyer_id, r.period_start AS first_day,
            least(r.period_end, (r.withdrawn_at AT TIME ZONE 'UTC')::date - 1, $2::date)
                AS last_day
        FROM {S}.audit_reliance r JOIN programme p ON p.factory_id = r.factory_id
    ) AS periods
    WHERE first_day <= last_day
),
-- the buyers per year in force (each buyer's distinct spans of years first: fewer to expand)
participating AS (
    SELECT DISTINCT year, buyer_id FROM grants, generate_series(first_year, last_year) AS year
),
relying AS (
    SELECT DISTINCT year, buyer_id FROM reliances, generate_series(first_year, last_year) AS year
)
SELECT
    (SELECT json_agg(json_build_array(year, assessments, factories, women, men))
     FROM (SELECT year, sum(assessments) AS assessments, count(*) AS factories,
               sum(women) AS women, sum(men) AS men
           FROM assessed GROUP BY year) AS a) AS assessed,
    (SELECT json_build_array(count(*), coalesce(sum(women), 0), coalesce(sum(men), 0))
     FROM (SELECT DISTINCT ON (factory_id) women, men FROM assessed
           ORDER BY factory_id, year DESC) AS a) AS ever_assessed,
    (SELECT json_agg(json_build_array(year, cluster_id, non_compliant))
     FROM (SELECT year, cluster_id, sum(non_compliant) AS non_compliant
           FROM {S}.factory_year_cluster
           WHERE country = $1 AND year <= extract(year FROM $2::date)::int
           GROUP BY year, cluster_id) AS k) AS clusters,
    (SELECT json_agg(json_build_array(year, buyers))
     FROM (SELECT year, count(*) AS buyers FROM participating GROUP BY year) AS b) AS participating,
    (SELECT count(DISTINCT buyer_id) FROM grants) AS ever_participating,
    (SELECT json_agg(json_build_array(year, buyers))
     FROM (SELECT year, count(*) AS buyers FROM relying GROUP BY year) AS b) AS relying,
    (SELECT count(DISTINCT buyer_id) FROM reliances) AS ever_relying,
    (SELECT json_agg(json_build_array(year, participants, completions))
     FROM (SELECT extract(year FROM t.end_date)::int AS year,
               sum(t.participants) AS participants, sum(t.completions) AS completions
           FROM {S}.training_delivery t JOIN programme p ON p.factory_id = t.factory_id
           WHERE extract(year FROM t.end_date) <= extract(year FROM $2::date)
           GROUP BY 1) AS t) AS training,
    -- the days as written (text), not as binary floats
    (SELECT json_agg(json_build_array(year, days))
     FROM (SELECT a.year, sum(a.advisory_days)::text AS days
           FROM {S}.advisory_summary a JOIN programme p ON p.factory_id = a.factory_id
           WHERE a.year <= extract(year FROM $2::date)::int
           GROUP BY a.year) AS v) AS advisory
"""


# What moves whenever a fact of the table changes (read before the facts, as the public pages read
# their version): the assessment facts move TRANSPARENCY, training and advice RESULTS (both bumped
# in the consumers' transactions, and by a rebuild); a grant or a revocation adds a history row, a
# declaration a reliance row, and a withdrawal sets its withdrawn_at.
FINGERPRINT_SQL = f"""
SELECT
    (SELECT version FROM {S}.read_model_version WHERE name = '{TRANSPARENCY}'),
    (SELECT version FROM {S}.read_model_version WHERE name = '{RESULTS}'),
    (SELECT count(*) FROM {S}.sharing_history),
    (SELECT count(*) + count(withdrawn_at) FROM {S}.audit_reliance)
"""


async def facts_fingerprint(connection: AsyncConnection) -> tuple[int, ...]:
    """A value that changes whenever a fact any programme's table counts changes."""
    driver = await driver_connection(connection)
    row = await driver.fetchrow(FINGERPRINT_SQL)
    assert row is not None
    return tuple(value or 0 for value in row)


def _json(value: Any) -> Any:
    """A JSON value (decoded already where the engine's driver decodes JSON)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def _rows(value: Any) -> list[list[Any]]:
    """A json_agg's rows: none is null."""
    rows: list[list[Any]] = _json(value) or []
    return rows


async def programme_facts(connection: AsyncConnection, country: str, today: date) -> ProgrammeFacts:
    """What the table of `country`'s programme is computed from, up to `today`."""
    driver = await driver_connection(connection)
    # The planner takes each generate_series for 1,000 rows, so it would compile this small
    # statement (a few thousand rows) to machine code, which costs more than running it.
    await driver.execute("SET LOCAL jit = off")
    row = await driver.fetchrow(FACTS_SQL, country, today)
    assert row is not None  # one row, always
    years: dict[int, dict[str, Any]] = {}

    def year(number: int) -> dict[str, Any]:
        return years.setdefault(number, {"non_compliant": {}})

    for number, assessments, factories, women, men in _rows(row["assessed"]):
        year(number).update(assessments=assessments, factories=factories, women=women, men=men)
    for number, cluster_id, non_compliant in _rows(row["clusters"]):
        year(number)["non_compliant"][cluster_id] = non_compliant
    for number, buyers in _rows(row["participating"]):
        year(number)["buyers_participating"] = buyers
    for number, buyers in _rows(row["relying"]):
        year(number)["buyers_relying"] = buyers
    for number, participants, completions in _rows(row["training"]):
        year(number).update(training_participants=participants, training_completions=completions)
    for number, days in _rows(row["advisory"]):
        year(number)["advisory_days"] = Decimal(days)
    factories, women, men = _json(row["ever_assessed"])
    return ProgrammeFacts(
        years={number: YearFacts(**values) for number, values in years.items()},
        ever=Ever(
            factories=factories,
            women=women,
            men=men,
            buyers_participating=row["ever_participating"],
            buyers_relying=row["ever_relying"],
        ),
    )
